"""The instruction processing protocol: from a user's sentence to a plan of skill calls.

Pure functions only. The runtime supplies the two judgements that need models
(how similar a clause is to each skill; which values a clause gives for a
skill's inputs) and this module does the rest: cut the instruction into
clauses, keep the clauses that name a capability, expand each into the steps
it requires, find what is missing, and phrase the question to ask back.

Small models cannot be trusted to write a free-form plan, so the plan's shape
comes from the network's cards (which skill requires which), not from the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lamas.errors import InvalidPlan
from lamas.protocol.cards import AgentCard, Skill
from lamas.protocol.plan import Plan, Step

# Where a request usually turns to its next part. " and " is among them, so a
# fragment that names no capability ("... from Paris" | "Lyon") is merged back. An
# initial's full stop ("B.B. King") ends no sentence.
_SEPARATORS = re.compile(
    r"(?:(?:[;!?]|(?<!\b[A-Z])\.)\s+|\s*,\s*|\s*[\U0001F300-\U0001FAFF\u2600-\u27A0\u27A2-\u27BF]+\ufe0f?\s*)"
    r"(?:and\s+then\s+|and\s+also\s+|and\s+|then\s+|also\s+|plus\s+)?"
    r"|\s+(?:and\s+then|and\s+also|then|also|plus|and|\+)\s+",
    re.IGNORECASE,
)

INTERNAL_TAG = "internal"
"""Skills tagged so (voting, profile lookups, logging) serve agents, never a user's clause."""


# Words that open a noun phrase: a clause starting with one has no verb of its own.
_DETERMINERS = frozenset(
    [
        "a",
        "an",
        "the",
        "some",
        "any",
        "my",
        "our",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
    ]
)


def starts_noun_phrase(clause: str) -> bool:
    """ "a taxi to the station", "two tickets": a clause that opens on its own object."""
    words = clause.split()
    return bool(words) and words[0].casefold() in _DETERMINERS


def split_clauses(instruction: str) -> list[str]:
    """Cut an instruction at its conjunctions and punctuation; empty pieces are dropped.

    The verb is shared across a conjunction: in "book me a train and a hotel" the second
    clause is "book me a hotel", so the hotel is booked, not merely searched for.
    """
    shared: list[str] = []
    sentences = _SENTENCE_END.split(_EMOTICON.sub(".", instruction))
    for index, sentence in enumerate(sentences):
        if index < len(sentences) - 1:
            sentence = sentence.rstrip()[:-1]  # its full stop (or ! or ?), as a separator
        sentence = _OPENING_JOIN.sub("", sentence)  # "Also play something": "play something"
        # A verb is shared within its sentence only: in "I need a hotel. The train is
        # booked" the train is not "needed".
        pieces = [p.strip() for p in _SEPARATORS.split(sentence) if p and p.strip()]
        shared += _share_verbs([p for p in pieces if not _PLEASANTRY.match(p)])
    return shared


# A smiley ends what was said before it ("Hope you're well :) I'm off to Lyon").
_EMOTICON = re.compile(r"\s*(?<![\w:])[:;=]-?[()DPp](?![\w(])")
# Greetings, thanks and wishes ask for nothing: "Hi!", "Thanks so much!", "Hope you're well".
_PLEASANTRY = re.compile(
    r"^(?:hi|hello|hey|hiya|howdy|dear\s+\w+|good\s+(?:morning|afternoon|evening)|bonjour|"
    r"salut|coucou|cheers|thx|ty|many\s+thanks|much\s+appreciated|(?:i\s+)?appreciate\s+it|"
    r"(?:thanks?|thank\s+you)(?:\s+(?:so|very)\s+much)?(?:\s+(?:in\s+advance|a\s+lot|again))?|"
    r"merci(?:\s+beaucoup|\s+d'avance)?|(?:kind\s+|best\s+)?regards|"
    r"(?:i\s+)?hope\s+(?:[\w']+\s+){1,6}?(?:well|good|fine|great|ok|okay|nicely)(?:\s+today)?|"
    r"how\s+are\s+you(?:\s+doing)?(?:\s+today)?)[\s!.,:)(]*$",
    re.I,
)


_OPENING_JOIN = re.compile(r"^\s*(?:and\s+then|and\s+also|and|then|also|plus)\s+", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\b[A-Z]\.)\s+(?=[A-Z])")


def _share_verbs(pieces: list[str]) -> list[str]:
    verb = ""
    shared = []
    for index, piece in enumerate(pieces):
        if (
            index
            and verb
            and piece.split()[0].casefold() in _DETERMINERS
            and not _WHENEVER.match(piece)
        ):
            piece = f"{verb} {piece}"
        elif piece.split()[0].casefold() not in _DETERMINERS:
            # The nearest verb before a bare noun phrase is its verb: in "I'm going to
            # Lyon. Book a train and a hotel" the hotel is booked, not "gone to". A
            # participle ("leaving before 10") or a place is no verb to share.
            said = verb_phrase(piece)
            asks = set(said.casefold().split()) & (ASKING_VERBS | {"need", "want", "like"})
            verb = said if asks else ""
        shared.append(piece)
    return shared


# "any time after 10", "any day next week": a window for the clause before, no new object.
_WHENEVER = re.compile(r"\s*any\s*(?:time|day|hour)\b", re.I)
_PRONOUNS = frozenset({"me", "us"})
ASKING_VERBS = frozenset(
    [
        "book",
        "reserve",
        "find",
        "search",
        "get",
        "buy",
        "show",
        "give",
        "play",
        "put",
        "start",
        "plan",
        "take",
        "order",
        "rent",
        "hire",
        "call",
        "arrange",
        "recommend",
        "suggest",
        "list",
        "check",
    ]
)
_ASKING = frozenset({"can", "could", "would", "will"})


def verb_phrase(clause: str) -> str:
    """The words that open a clause before its object: "Book me" of "Book me a train",
    "I need" of "I need a room", "Find" of "Find trains ..."; '' for a bare noun phrase."""
    words = clause.split()
    if len(words) > 2 and words[1].casefold() == "you" and words[0].casefold() in _ASKING:
        return " ".join(words[:3])  # "Can you book", "could you find"
    for index, word in enumerate(words[:4]):
        if word.casefold() in _DETERMINERS:
            return " ".join(words[:index])
    if len(words) > 1 and words[1].casefold() in _PRONOUNS:
        return " ".join(words[:2])
    return words[0] if words else ""


@dataclass(frozen=True, slots=True)
class RoutedClause:
    text: str
    capability: str | None
    score: float


Scorer = Callable[[str], list[tuple[str, float]]]
"""Given a clause, the capabilities with their similarity scores, best first."""


_NAME = re.compile(
    r"(?<!^)(?<![.!?]\s)\b(?!I'(?:d|m|ll|ve)\b)[A-Z][\w'-]+"
    r"(?:\s+(?:de|des|du|la|le)?\s*[A-Z][\w'-]*)*"
)
_STOP = frozenset(
    {"the", "and", "for", "from", "into", "onto", "with", "between", "near", "this", "that"}
    | {"there", "then", "please", "you", "can"}
    # Time alone ("Tomorrow,", "Saturday night") is more about a clause, not a request.
    | {"today", "tonight", "tomorrow", "morning", "afternoon", "evening", "night", "nights"}
    | {"week", "weekend", "next", "monday", "tuesday", "wednesday", "thursday", "friday"}
    | {"saturday", "sunday", "day", "days"}
)


def mask_names(text: str) -> str:
    """Replace proper names (capitalised words past the first) by a neutral word.

    "from Perrache to Vieux Lyon" and "from Paris to Lyon" then look alike, so the
    words that say *what* is asked decide the route, not which places are named
    (those are for the slots).
    """
    return _NAME.sub("someplace", text)


def names_something(fragment: str, *, continuation: bool = False) -> bool:
    """Whether a fragment has a word of its own besides names, numbers and small words:
    "Lille on December 11" has none, so it cannot be a request by itself. In a
    `continuation` (a piece cut from the middle of a sentence) a capitalised first word
    is a name too: a clause after "and" starts in lower case."""
    masked = mask_names(fragment)
    if continuation and masked[:1].isupper():
        masked = "someplace" + masked[len(masked.split()[0]) :]
    words = re.findall(r"\b[a-z]{3,}\b", masked.casefold())
    return any(w not in _STOP and w != "someplace" for w in words)


def route_clauses(
    instruction: str,
    score: Scorer,
    *,
    threshold: float,
    standalone: Callable[[str], bool] | None = None,
) -> list[RoutedClause]:
    """Route each clause of `instruction` to its best capability.

    A fragment whose best score is under `threshold` names no capability of its
    own: it is merged into the clause before it (or after it, if it comes first)
    and that clause is routed again, so "a train from Paris and Lyon" is not cut
    in two by its "and".
    """
    routed: list[RoutedClause] = []
    for index, piece in enumerate(split_clauses(instruction)):
        capability, best = _best(score(piece))
        if best >= threshold and names_something(piece, continuation=index > 0):
            routed.append(RoutedClause(piece, capability, best))
        elif standalone is not None and standalone(piece):
            # A piece that stands on its own (a trip between two cities, say) is a clause
            # even when its words route weakly ("Le Mans to Angers in the afternoon").
            routed.append(RoutedClause(piece, capability, max(best, threshold)))
        elif routed:
            merged = f"{routed[-1].text} and {piece}"
            capability, best = _best(score(merged))
            routed[-1] = RoutedClause(merged, capability, best)
        else:
            routed.append(RoutedClause(piece, None, best))
    # A leading fragment that named nothing belongs to the clause after it; one that names
    # something no skill serves ("order a pizza") stays apart, to be reported as such.
    if len(routed) > 1 and routed[0].capability is None and not names_something(routed[0].text):
        first, second = routed[0], routed[1]
        merged = f"{first.text} {second.text}"
        capability, best = _best(score(merged))
        routed[:2] = [RoutedClause(merged, capability, best)]
    return [r if r.score >= threshold else RoutedClause(r.text, None, r.score) for r in routed]


def _best(scores: list[tuple[str, float]]) -> tuple[str | None, float]:
    return scores[0] if scores else (None, 0.0)


def routable_skills(cards: Iterable[AgentCard], *, exclude: Iterable[str] = ()) -> dict[str, Skill]:
    """The skills a user's clause may be routed to, by name (first card offering it wins)."""
    skipped = set(exclude)
    found: dict[str, Skill] = {}
    for card in cards:
        if card.id in skipped:
            continue
        for skill in card.skills:
            if INTERNAL_TAG not in skill.tags:
                found.setdefault(skill.name, skill)
    return found


def action_texts(skill: Skill) -> list[str]:
    """How the skill's action is said: its name's verb ("book" of ticket.book) and the
    opening words of its examples ("reserve a seat" gives "reserve")."""
    texts = [skill.name.rsplit(".", 1)[-1].replace("_", " ")]
    texts += [phrase for phrase in map(verb_phrase, skill.examples) if phrase]
    return list(dict.fromkeys(texts))


def related_by_requirement(name: str, skills: Mapping[str, Skill]) -> list[str]:
    """`name` and the skills one `requires` step away from it, either way (search and book)."""
    skill = skills[name]
    family = [name, *(n for n in skill.requires if n in skills)]
    family += [other for other, s in skills.items() if name in s.requires]
    return list(dict.fromkeys(family))


def skill_text(skill: Skill) -> list[str]:
    """The texts a clause is compared with: the skill's name and description, and its examples."""
    head = f"{skill.name.replace('.', ' ').replace('_', ' ')}: {skill.description}"
    return [head, *skill.examples]


def build_plan(
    instruction: str,
    routed: Iterable[RoutedClause],
    skills: Mapping[str, Skill],
    *,
    optional: Iterable[int] = (),
) -> Plan:
    """A plan with one step per routed clause, preceded by the steps each one requires.

    A step added only because another requires it is shared: "book a train and show me
    the trains" needs one search, not two. A capability asked for twice in its own right
    ("a train there and a train back") gets two steps, ids suffixed -2, -3, ..., each with
    its own requirements (the way back needs a search of its own). `optional`: indexes of
    routed clauses whose step runs only if what it requires found something.
    """
    return plan_with_clauses(instruction, routed, skills, optional=optional)[0]


def plan_with_clauses(
    instruction: str,
    routed: Iterable[RoutedClause],
    skills: Mapping[str, Skill],
    *,
    optional: Iterable[int] = (),
) -> tuple[Plan, list[str | None]]:
    """`build_plan`, and the step each routed clause became (None: no step of its own)."""
    steps: dict[str, Step] = {}
    by_capability: dict[str, str] = {}
    asked: set[str] = set()  # capabilities some clause asked for in its own right
    conditional = set(optional)

    def add(
        capability: str, clause: str, *, chain: tuple[str, ...] = (), fresh: bool = False
    ) -> str:
        if capability in chain:
            raise InvalidPlan(f"skills require each other in a loop: {' -> '.join(chain)}")
        skill = skills.get(capability)
        if skill is None:
            raise InvalidPlan(f"no agent of this network offers {capability!r}")
        depends = tuple(
            (None if fresh else by_capability.get(need))
            or add(need, clause, chain=(*chain, capability), fresh=fresh)
            for need in skill.requires
        )
        step_id = capability
        n = 1
        while step_id in steps:
            n += 1
            step_id = f"{capability}-{n}"
        steps[step_id] = Step(
            id=step_id, capability=capability, instruction=clause, depends_on=depends
        )
        by_capability.setdefault(capability, step_id)
        return step_id

    made: list[str | None] = []
    for index, clause in enumerate(routed):
        if clause.capability is None:
            made.append(None)
            continue
        if clause.capability in by_capability and clause.capability not in asked:
            asked.add(clause.capability)  # it was only implied; this clause names it
            made.append(by_capability[clause.capability])
        else:
            again = clause.capability in asked
            asked.add(clause.capability)
            made.append(add(clause.capability, clause.text, fresh=again))
        step_id = made[-1]
        if index in conditional and step_id is not None:
            steps[step_id] = steps[step_id].model_copy(update={"optional": True})
    if not steps:
        raise InvalidPlan(f"no part of the instruction names a capability: {instruction!r}")
    return Plan(instruction=instruction, steps=tuple(steps.values())), made


# --- slots -------------------------------------------------------------------------------


def slot_schema(input_schema: dict[str, Any]) -> dict[str, Any]:
    """The schema a model fills: every property present, `null` when the text does not say.

    Making each slot required-but-nullable lets constrained decoding say "not given"
    instead of inventing a value to satisfy `required`.
    """
    properties = input_schema.get("properties", {})
    nullable = {}
    for name, prop in properties.items():
        if "$ref" in prop or "anyOf" in prop:
            nullable[name] = {"anyOf": [prop, {"type": "null"}]}
        else:
            kind = prop.get("type")
            kinds = kind if isinstance(kind, list) else [kind] if kind else []
            # Extension keywords ("x-vocabulary") are for callers, not for the decoder.
            widened = {k: v for k, v in prop.items() if not k.startswith("x-")}
            if kinds and "null" not in kinds:
                widened["type"] = [*kinds, "null"]
            if "enum" in widened:
                widened["enum"] = [*widened["enum"], None]
            nullable[name] = widened
    return {
        "type": "object",
        "properties": nullable,
        "required": list(nullable),
        "additionalProperties": False,
    }


def missing_slots(input_schema: dict[str, Any], values: Mapping[str, Any]) -> list[str]:
    """Required inputs with no value."""
    return [name for name in input_schema.get("required", []) if values.get(name) in (None, "")]


def ungrounded(input_schema: dict[str, Any], values: Mapping[str, Any], evidence: str) -> list[str]:
    """Free-text string slots whose value appears nowhere in `evidence` (the user's words).

    A small model asked for a city it was not told will name one anyway; such a value
    is treated as missing and asked for, not guessed. Dates, numbers and enumerations
    are exempt: they are normalised forms ("tomorrow" -> a date), not quotations.
    """
    text = _fold(evidence)
    doubtful = []
    for name, prop in input_schema.get("properties", {}).items():
        value = values.get(name)
        if not isinstance(value, str) or not value or "enum" in prop or "format" in prop:
            continue
        if prop.get("type") not in ("string", None):
            continue
        words = [w for w in re.findall(r"\w+", _fold(value)) if len(w) > 2]
        if words and not any(w in text for w in words):
            doubtful.append(name)
    return doubtful


_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
_DATE_WORDS = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}(?:st|nd|rd|th)\b|\b\d{1,2}/\d{1,2}\b"
    r"|\b(?:today|tonight|tomorrow|yesterday|weekend|week|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday|" + "|".join(_MONTHS.split()) + r")\b",
    re.IGNORECASE,
)


def mentions_date(text: str) -> bool:
    """Whether `text` says anything a date could come from (a number, a day, a month...)."""
    return bool(_DATE_WORDS.search(text))


def date_slots(input_schema: dict[str, Any]) -> list[str]:
    """The inputs that hold a calendar date (JSON Schema `format: date`)."""
    return [
        name
        for name, prop in input_schema.get("properties", {}).items()
        if prop.get("format") == "date"
    ]


def _fold(text: str) -> str:
    return text.casefold().replace("-", " ")


def alternatives(value: str, text: str) -> list[str]:
    """The choices `text` offers around `value` ("to Lyon or Marseille" -> [Lyon, Marseille]);
    [] when the text does not hesitate. A value picked out of such a choice is a guess."""
    words = r"[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*"
    for match in re.finditer(rf"({words})((?:\s*,\s*{words})*)\s+or\s+({words})", text):
        options = [match.group(1), *re.findall(words, match.group(2)), match.group(3)]
        if any(_fold(value) in _fold(o) or _fold(o) in _fold(value) for o in options):
            return options
    return []


def question_for(
    skill: Skill, slots: Iterable[str], choices: Mapping[str, list[str]] | None = None
) -> str:
    """A question that asks the user for `slots` of `skill`, using the slots' descriptions
    (or, for a slot the user left open between `choices`, naming them)."""
    properties = skill.input_schema.get("properties", {})
    offered = choices or {}
    wanted = []
    for name in slots:
        description = properties.get(name, {}).get("description")
        if offered.get(name):
            options = offered[name]
            either = ", ".join(options[:-1]) + " or " + options[-1]
            wanted.append(f"{name.replace('_', ' ')} ({either}?)")
        else:
            wanted.append(f"{name.replace('_', ' ')} ({description})" if description else name)
    listed = wanted[0] if len(wanted) == 1 else ", ".join(wanted[:-1]) + " and " + wanted[-1]
    # The description's first phrase says what the skill is for; the rest is detail.
    first = re.split(r"[:;.]", skill.description, maxsplit=1)[0].strip()
    purpose = first[0].lower() + first[1:]
    return f"To {purpose}, I need the {listed}."
