"""Names said in a request, found by the vendors' own vocabularies (no model).

A vendor that publishes the cities, stations, places, genres or moods it knows lets the
orchestrator find them in the user's words directly: "next friday paris lyon", "a hotel
near the Vieux-Port", "some chill jazz". Each name is the longest run of words that is a
name or alias (so "Gare de Lyon" is a Paris station, not the city of Lyon); a trip's ends
are told apart by their cue ("from X", "to Y", "X -> Y", or the order of two bare names).
What it finds is exact; what it cannot place is left to the model and to the vendor's
suggestions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lamas.protocol.cards import AgentCard, Skill
from lamas.protocol.vocabulary import Vocabulary, fold
from lamas.runtime.understanding.references import PEOPLE

LONGEST = 5
"""The most words a name runs to ("Paris Gare de l'Est")."""
_TO = {"to", "for", "towards", "->", "→", "➡", ">", "-", "\u2013", "pour", "vers", "a", "à", "into"}
_FROM = {"from", "de", "depuis", "leaving", "out"}
_NEAR = re.compile(
    r"\b(?:near|close\s+to|next\s+to|by|around|walking\s+distance\s+(?:of|from)|opposite|"
    r"près\s+de|pres\s+de|à\s+côté\s+de|somewhere\s+(?:in|near|around)|"
    r"in\s+the\s+(?:heart|middle|centre|center)\s+of|right\s+in)\s+(?:the\s+)?",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Mention:
    name: str
    start: int
    """Index of its first word."""
    cue: str
    """The word before it, folded ("from", "to", ...; "" at the start)."""
    said: str = ""
    """The user's words for it, as written."""


_POSSESSIVE = re.compile(r"(?<=\w\w)['\u2019]s$")

FUZZY_SCORE = 85.0
"""How close (rapidfuzz ratio, 0-100) a misspelt word must be to one known name to stand
for it ("Bordaux", "Strasbourgh", "Grenobel"), when it is the only such name."""


def _misspelt(word: str, vocabulary: Vocabulary) -> str | None:
    from rapidfuzz import fuzz

    key = fold(word)
    if len(key) < 5 or not word[:1].isalpha():
        return None
    close = [
        n for n in vocabulary.suggest(word, limit=2) if fuzz.ratio(key, fold(n)) >= FUZZY_SCORE
    ]
    return close[0] if len(close) == 1 else None


def mentions(text: str, vocabulary: Vocabulary, *, choices: bool = False) -> list[Mention]:
    """Every name of `vocabulary` said in `text`, in order (longest runs first); a single
    capitalised or cued word that no name is, but one name is close to, stands for it.
    Names offered as a choice ("Lyon or Marseille") are left out unless `choices`."""
    words = _split_pairs(
        re.findall(r"[\w'\u2019]+(?:-[\w'\u2019]+)*|->|→|➡|\u2013|>|-", text), vocabulary
    )
    # "Michael Jackson's newest": the possessive is no part of the name.
    keys = [fold(_POSSESSIVE.sub("", w)) for w in words]
    found: list[Mention] = []
    start = 0
    while start < len(words):
        for size in range(min(LONGEST, len(words) - start), 0, -1):
            key = " ".join(k for k in keys[start : start + size] if k)
            names = vocabulary.exact(key) if key else ()
            if len(names) == 1:
                cue = words[start - 1].casefold() if start else ""
                found.append(Mention(names[0], start, cue, " ".join(words[start : start + size])))
                start += size
                break
        else:
            cue = words[start - 1].casefold() if start else ""
            word = words[start]
            pair = words[start : start + 2]
            if (
                len(pair) == 2
                and all(w[:1].isupper() for w in pair)
                and (near := _misspelt(" ".join(pair), vocabulary))
            ):
                # "Miles Davies": a misspelt name of two words.
                found.append(Mention(near, start, cue, " ".join(pair)))
                start += 2
                continue
            if (word[:1].isupper() or cue in _FROM | _TO | {"in", "by"}) and (
                near := _misspelt(word, vocabulary)
            ):
                found.append(Mention(near, start, cue, word))
            start += 1
    return found if choices else _without_choices(found, words)


_NO_NAME_PART = frozenset(
    {
        "the",
        "a",
        "an",
        "and",
        "of",
        "in",
        "on",
        "to",
        "for",
        "by",
        "with",
        "from",
        "my",
        "me",
        "some",
        "any",
        "play",
        "put",
        "i",
        "im",
        "you",
    }
)


def _part_of_a_name(text: str, vocabulary: Vocabulary, covered: set[str]) -> str | None:
    """A capitalised word, not a long request's first, that is part of names of `vocabulary`
    (people's names: "Marley", "Bob"): the name it is part of, or the word, to ask about
    ("Bob Dylan or Bob Marley?")."""
    if vocabulary.kind not in PEOPLE:  # places have their own reading (near_place)
        return None
    terse = len(text.split()) <= 3  # an answer ("Marley") or as short a request
    for word in re.findall(r"(?:(?<=\s)|^)[A-Z][\w'\u2019-]{2,}", text):
        if not terse and text.startswith(word):
            continue
        key = fold(_POSSESSIVE.sub("", word))
        if key in _NO_NAME_PART or any(f" {key} " in f" {name} " for name in covered):
            continue
        named = vocabulary.candidates(key)
        if len(named) == 1:
            return named[0]
        if named:
            return _POSSESSIVE.sub("", word)
    return None


def _said_as_title(mention: Mention) -> bool:
    """A title is made of ordinary words ("Happy", "Respect", "Take On Me"): it is one only
    when written as one, capitalised, and not merely as the first word of the request."""
    capitalised = mention.said[:1].isupper()
    return capitalised and (mention.start > 0 or " " in mention.said)


def _split_pairs(words: list[str], vocabulary: Vocabulary) -> list[str]:
    """Hyphenated words that are no name but two or more names joined ("Paris-Lyon",
    "Toulouse-Bordeaux") read as those names with a "-" between (a trip's ends); a name
    with hyphens of its own ("Aix-en-Provence", "Saint-Jean") stays whole."""
    out: list[str] = []
    for word in words:
        parts = word.split("-")
        if len(parts) < 2 or vocabulary.exact(word):
            out.append(word)
            continue
        names = _as_names(parts, vocabulary)
        if names is None or len(names) < 2:
            out.append(word)
            continue
        for index, name in enumerate(names):
            out.extend(["-", name] if index else [name])
    return out


def _as_names(parts: list[str], vocabulary: Vocabulary) -> list[str] | None:
    """`parts` cut into runs that are each a name (longest first), or None."""
    if not parts:
        return []
    for size in range(len(parts), 0, -1):
        head = "-".join(parts[:size])
        if vocabulary.exact(head) or vocabulary.exact(head.replace("-", " ")):
            rest = _as_names(parts[size:], vocabulary)
            if rest is not None:
                return [head, *rest]
    return None


def _without_choices(found: list[Mention], words: list[str]) -> list[Mention]:
    """Names offered as a choice ("to Lyon or Marseille") are no answer: the user is asked."""
    hesitant: set[int] = set()
    for first, second in itertools.pairwise(found):
        between = [w.casefold() for w in words[first.start + 1 : second.start]]
        if between and between[-1] == "or" and len(between) <= 3:
            hesitant.update((first.start, second.start))
    return [m for m in found if m.start not in hesitant]


def trip_ends(text: str, vocabulary: Vocabulary) -> dict[str, str]:
    """origin and destination of a trip said in `text`, as far as its cues tell."""
    said = mentions(text, vocabulary)
    ends: dict[str, str] = {}
    loose: list[Mention] = []
    for mention in said:
        if mention.cue in _FROM and "origin" not in ends:
            ends["origin"] = mention.name
        elif mention.cue in _TO and "destination" not in ends:
            ends["destination"] = mention.name
        else:
            loose.append(mention)
    for mention in loose:
        if mention.name in ends.values():
            continue
        if "origin" not in ends and (
            "destination" not in ends or mention.start < _start(said, ends["destination"])
        ):
            ends["origin"] = mention.name
        elif "destination" not in ends:
            ends["destination"] = mention.name
    return ends


def _start(said: list[Mention], name: str) -> int:
    return next((m.start for m in said if m.name == name), 0)


def said_inputs(
    skill: Skill,
    text: str,
    vocabularies: Mapping[str, Vocabulary],
) -> dict[str, Any]:
    """The inputs of `skill` whose names `text` says, by the slots' `vocabularies`."""
    properties = skill.input_schema.get("properties", {})
    values: dict[str, Any] = {}
    covered: set[str] = set()  # the words of the names found, folded
    unnamed: list[str] = []  # slots with a vocabulary whose names the text does not say
    if {"origin", "destination"} <= set(properties) and "origin" in vocabularies:
        values.update(trip_ends(text, vocabularies["origin"]))
    for slot, vocabulary in vocabularies.items():
        if slot in ("origin", "destination"):
            continue
        if slot == "city" and "near" in vocabularies:
            # Read cities and places together: "Gare de Lyon" is a Paris place, not Lyon.
            both = Vocabulary.merged([vocabulary, vocabularies["near"]])
            for mention in mentions(text, both):
                city = (
                    mention.name
                    if mention.name in vocabulary.names
                    else both.within.get(mention.name)
                )
                if city in vocabulary.names:
                    values["city"] = city
                    if mention.name != city and "near" in properties:
                        values.setdefault("near", mention.name)  # "a hotel in Montparnasse"
                    break
            continue
        if slot == "near":
            place = near_place(text, vocabulary, values.get("city"))
            if place is not None:
                values["near"] = place
            continue
        said = mentions(text, vocabulary)
        if vocabulary.kind == "title":
            said = [m for m in said if _said_as_title(m)]
        if said:
            values[slot] = said[0].name
            covered.update(fold(m.said) for m in said)
        else:
            unnamed.append(slot)
    for slot in unnamed:
        # "play some Bob": part of artists' names, unless it is part of another name said
        # ("Back to Black" is a title, not The Black Keys).
        part = _part_of_a_name(text, vocabularies[slot], covered)
        if part is not None:
            values[slot] = part
    if "city" in properties and "city" not in values:
        # A place said ("near the Vieux-Port") names its city.
        for vocabulary in vocabularies.values():
            place = values.get("near")
            if isinstance(place, str) and place in vocabulary.within:
                values["city"] = vocabulary.within[place]
                break
    return values


# How English names the kind of place a French landmark's name starts with (patterns over
# the folded name).
_KINDS = {
    "cathedral": "cathedrale",
    "lake": "lac",
    "castle": "chateau",
    "palace": "palais",
    "old port": "vieux port",
    "harbour": "port",
    "harbor": "port",
    "beach": "plage",
    "bridge": "pont",
    "square": "place",
    "church": "eglise",
    "basilica": "basilique",
    "tower": "tour",
    "market": "marche",
    "museum": "musee",
    "garden": "jardin",
    "gardens": "jardin",
    "park": "parc",
    "island": "ile",
    "old town": r"vie(?:il|ux|ille)\b(?! port)",  # Vieil Aix, Vieux Lyon, vieille ville
    "station": "main station",
    "railway station": "main station",
    "big station": "main station",
    "central station": "main station",
}


def near_place(text: str, vocabulary: Vocabulary, city: Any) -> str | None:
    """The place `text` asks to be near ("a hotel near the cathedral"), in `city` when
    known: a kind of place is only told apart within its city, which may be said
    elsewhere (the context, or the answer to a question)."""
    cue = _NEAR.search(text)
    return _place_near(text[cue.end() :], vocabulary, city) if cue is not None else None


def _place_near(text: str, vocabulary: Vocabulary, city: Any) -> str | None:
    """The place `text` (the words after "near") opens with: a name, or in the `city`
    the one landmark of the kind said ("the cathedral" in Reims, "the lake" in Annecy)."""
    local = vocabulary.in_place(city) if isinstance(city, str) else vocabulary
    scoped = local if local.names else vocabulary
    said = mentions(text, scoped)
    if said and said[0].start == 0:
        return said[0].name
    if scoped is vocabulary:
        return None
    phrase = fold(re.split(r"\b(?:in|for|from|on|at|and|with|tonight|tomorrow)\b|[,;]", text)[0])
    phrase = re.sub(r"^(?:the|a|an|le|la|les|l)\s+", "", phrase)
    words = phrase.split()
    # "the cathedral if you can": the kind is the phrase's first words, longest first.
    for size in range(min(3, len(words)), 0, -1):
        phrase_start = " ".join(words[:size])
        kind = _KINDS.get(phrase_start, re.escape(phrase_start))  # the kinds are patterns
        named = scoped.exact(_KINDS.get(phrase_start, phrase_start))  # "main station"
        if len(named) == 1:
            return named[0]
        found = [n for n in scoped.names if re.match(rf"(?:\w+\s+)?(?:{kind})\b", fold(n))]
        # "Vieil Aix" rather than the hotel named after it, "StayWell Vieil Aix".
        found = [n for n in found if not any(o != n and o in n for o in found)]
        if len(found) == 1:
            return found[0]
    return None


def slot_vocabularies(skill: Skill, cards: Iterable[AgentCard]) -> dict[str, Vocabulary]:
    """Each input of `skill` that its providers publish names for, with those names."""
    from lamas.runtime.understanding.inputs import vocabulary_for

    providers = list(cards)
    found: dict[str, Vocabulary] = {}
    for slot in skill.input_schema.get("properties", {}):
        vocabulary = vocabulary_for(providers, skill.name, slot)
        if vocabulary is not None:
            found[slot] = vocabulary
    return found
