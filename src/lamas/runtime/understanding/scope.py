"""Out of scope: is a clause asking for something this network offers at all?

Routing always finds a nearest skill, so "book a table at a restaurant" lands on
hotel.book and "rent a car at the station" on the hotel search. The whole clause
is a poor judge ("book" and "at the station" are shared with real requests); the
*thing asked for* is a good one. `ScopeJudge` takes the clause's object (the words
after its verb, up to the first preposition: "a table", "a car", "concert tickets")
and requires every content word of it to be close, by embedding, to some word the
routed skill's family uses for what it serves (its tags, the objects of its
examples, the nouns of its description: "train", "ticket", "seat"; "hotel",
"room", "place"). A clause with no object of its own ("somewhere to sleep") is
judged by the routing score alone.

The threshold is calibrated, not guessed: `calibrate` picks it from in-scope
objects (the skills' own examples) and out-of-scope ones (`NEGATIVE_OBJECTS`, and
any a caller adds), and `benchmarks/understanding.py` reports how it does on
requests it never saw.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lamas.agent.embeddings import Embedder
from lamas.protocol.cards import Skill
from lamas.protocol.instruction import ASKING_VERBS, mask_names, related_by_requirement

if TYPE_CHECKING:
    from lamas.agent.embeddings import Vectors

OBJECT_THRESHOLD = 0.62
"""Calibrated on MiniLM (see `calibrate`): in-scope object words score 0.7-1.0 against
their skill's words, out-of-scope ones ("car", "table", "weather", "concert") 0.25-0.6."""

NEARER_MARGIN = 0.1
"""Word embeddings are noisy: a head under the threshold is still served when it is nearer
to the family's words than to any thing not offered by this much (0.06-0.2 measure alike on
the development split)."""

NEGATIVE_OBJECTS = (
    "a table",
    "a restaurant",
    "a car",
    "a rental car",
    "a flight",
    "a plane ticket",
    "a taxi",
    "a cab",
    "the weather",
    "a visa",
    "travel insurance",
    "museum tickets",
    "a guided tour",
    "concert tickets",
    "a massage",
    "a pizza",
    "a babysitter",
    "a doctor",
    "the news",
    "an alarm",
    "the volume",
    "the lyrics",
    "a podcast",
    "an audiobook",
    "a bike",
    "a ferry",
    "a parking space",
    "a gym",
    "currency exchange",
    "a translation",
    "a haircut",
    "a dentist",
    "flowers",
    "groceries",
    "a cinema ticket",
    "a theatre show",
    "a football match",
    "a spa",
    "a boat",
    "a cruise",
    "a bus",
    "a scooter",
    "a sim card",
    "a reminder",
    "an email",
    "a recipe",
    "a movie",
    "a video",
    "a cooking class",
)
"""Things people ask a travel or music assistant for that neither example network offers:
the calibration's negatives (the evaluation set's out-of-scope clauses are not among them)."""

_PREPOSITION = re.compile(
    r"\b(?:at|to|in|into|for|from|near|on|with|by|around|about|if|and|or|this|next|tomorrow|"
    r"tonight|today|leaving|departing|that|which|who|so|before|after|between|under|over|"
    r"close|within|starting|until|till|through|thru|when|while|because)\b",
    re.I,
)
_FILLER = re.compile(
    r"\b(?:me|us|you|a|an|the|some|any|my|our|your|their|his|her|its|first|last|cheapest|"
    r"cheap|early|late|morning|afternoon|evening|night|one|two|three|four|five|\d+|good|nice|"
    r"great|new|newest|latest|best|please|also|just|really|quick|little|few|couple|of|"
    r"something|somewhere|anything|stuff|thing|things|it|them|that|there|here|i|we|"
    r"star|stars|quiet|big|small|direct|fast|slow|available|another|other|how|much|what|"
    r"are|is|found|get|far|which|where|when|who|there|tonight|tomorrow|today|week|weekend|"
    r"nights?|days?|mornings?|evenings?|afternoons?|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday|both|times|time|each|every|way|ways|too|as|well|only|yet|now|then|"
    r"random|whatever|different|similar|favou?rite|popular|famous|classic|old|oldest|recent|"
    r"earliest|possible|more|less|lot|lots|bit|kind|sort|usual|regular|normal|typical|"
    # French time words ("demain matin", "vendredi soir")
    r"demain|matin|soir|ce|cette|semaine|prochaine?|lundi|mardi|mercredi|jeudi|vendredi|"
    r"samedi|dimanche|fri|sat|sun|mon|tue|tues|wed|thu|thurs|pm|am|tmrw|tmr)\b",
    re.I,
)
# Verbs, chat and adverbs that are never the thing asked for ("a hotel you find", "need a
# room", "cheapest one pls", "sorry I mean Tuesday", "going back to Paris").
_NOT_THINGS = re.compile(
    r"\b(?:need|needs|want|wants|have|has|had|would|could|should|might|must|like|likes|love|"
    r"loves|find|finds|mean|meant|sorry|pls|plz|thanks|thank|thx|go|goes|going|gone|get|gets|"
    r"getting|got|back|same|arrive|arrives|arriving|coming|come|know|think|guess|maybe|perhaps|actually|"
    r"exactly|oops|ok|okay|yes|sure|be|been|was|were|will|shall|can|do|does|did|done|make|"
    r"let|lets|try|wanna|gonna|gotta|o'clock|ideally|preferably|definitely|asap|urgently|home|"
    r"still|out|right|svp|stp|merci|bonjour|hi|hello|hiya|hey|fancy|either|anyway|whichever)\b",
    re.I,
)
# A relative clause after the object ("something my grandma would like", "the oldest track
# you have", "the cheapest you find"): who wants it, not what is wanted.
_RELATIVE = re.compile(
    r"\b(?:i|you|we|they|he|she|my|your|our|his|her|their)\s+(?:[a-z]+\s+)?"
    r"(?:would|will|'d|like|likes|love|loves|want|wants|have|has|had|find|found|can|could|"
    r"might|need|needs|know|knows|said|mentioned|listen|listens|enjoy|enjoys)\b",
    re.I,
)


# The asking verbs clauses share (`protocol.instruction.ASKING_VERBS`), and the ones that
# only open a request for a thing ("look for", "queue", "stream").
_VERBS = sorted(ASKING_VERBS | {"look", "organise", "organize", "see", "queue", "stream"})
# Asking verbs that are never a thing asked for ("a show", "a play", "a plan" can be).
_NOUNS_TOO = frozenset({"show", "play", "start", "plan", "take", "order", "call", "list", "check"})
_VERB_WORDS = (frozenset(_VERBS) - _NOUNS_TOO) | {"grab"}
_OPENING = re.compile(
    r"^\s*(?:(?:please|hi|hey|ok|okay|so|and|then|also|now|just|actually)[,\s]+)*"
    r"(?:(?:if|whether)\s+there(?:'s|\s+is|\s+are)\s+|(?:is|are)\s+there\s+)?"
    r"(?:(?:i|we)(?:'d|\s+would|'ll|\s+will)?\s+(?:really\s+|still\s+|also\s+|only\s+)?(?:need|want|like|"
    r"love|fancy|take|be\s+needing|prefer)(?:\s+to\s+(?:listen\s+to|[a-z]+(?:\s+(?:out|up))?))?|"
    r"(?:(?:i|we)\s+)?(?:wanna|gonna|gotta)\s+[a-z]+|"
    r"(?:can|could|would|will)\s+you\s+(?:please\s+)?\w+|"
    r"(?:" + "|".join(_VERBS) + r")(?:\s+(?:me|us|for\s+me|up|on|out|for))?)\b",
    re.I,
)


def object_words(clause: str) -> list[str]:
    """The content words of what `clause` asks for: "a table" of "book a table at a
    restaurant" -> ["table"]; [] when it names no object of its own."""
    masked = mask_names(clause)
    heading, colon, content = masked.partition(":")
    if colon and not content.strip().startswith("//"):
        # "day trip to Reims: train from Paris": a heading, then what is asked.
        return object_words(content.strip()) if content.strip() else object_words(heading)
    opening = _OPENING.match(masked)
    rest = masked[opening.end() :] if opening else masked
    head = _PREPOSITION.split(rest, maxsplit=1)[0]
    head = _RELATIVE.split(head, maxsplit=1)[0]
    head = _NOT_THINGS.sub(" ", _FILLER.sub(" ", head.replace("someplace", " ")))
    # Capitalised words are names (places, artists): what they are is the vendors' to say.
    # An asking verb left in the head ("I really wanna book a roundtrip") asks; it is no
    # thing asked for.
    return [
        w
        for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", head)
        if not w[0].isupper() and w.casefold() not in _VERB_WORDS
    ]


def content_words(text: str) -> list[str]:
    """The words of `text` that could name a thing, names included ("the Vieilles Charrues
    festival" -> ["Vieilles", "Charrues", "festival"])."""
    plain = _NOT_THINGS.sub(" ", _FILLER.sub(" ", text))
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", plain) if not _TIMELY.match(w)]


_TIMELY = re.compile(
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day$|tonight$|tomorrow$|today$|weekend$", re.I
)


@dataclass(frozen=True, slots=True)
class Verdict:
    offered: bool
    score: float
    """The weakest object word's best similarity to the skill family's words (1.0 without
    an object)."""
    words: tuple[str, ...]


class ScopeJudge:
    def __init__(
        self,
        skills: Mapping[str, Skill],
        embedder: Embedder,
        *,
        threshold: float | None = None,
        served: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """`threshold` None: calibrated on this network's skills (their examples in scope,
        `NEGATIVE_OBJECTS` out of it), never below `OBJECT_THRESHOLD`."""
        self.embedder = embedder
        self.threshold = OBJECT_THRESHOLD if threshold is None else threshold
        self._skills = dict(skills)
        # Words a skill's vendors publish for what they serve (genres, moods): any of them
        # names a thing the family offers.
        self._served = {
            name: [w.casefold() for w in words] for name, words in (served or {}).items()
        }
        self._lexicon: dict[str, tuple[list[str], Vectors]] = {}
        self._cache: dict[str, float] = {}
        self._all_words: set[str] | None = None
        self._negatives: tuple[list[str], Vectors] | None = None
        if threshold is None and self._skills:
            positives = [(n, e) for n, s in self._skills.items() for e in s.examples]
            first = next(iter(self._skills))
            negatives = [(first, f"book {o}") for o in NEGATIVE_OBJECTS]
            calibrated, _ = calibrate(self, positives, negatives)
            self.threshold = max(OBJECT_THRESHOLD, calibrated)

    def words_of(self, capability: str) -> list[str]:
        """The words the skill's family uses for what it serves."""
        family = related_by_requirement(capability, self._skills)
        words: set[str] = set()
        shared = _shared_tags(self._skills.values())
        for name in family:
            skill = self._skills[name]
            words.update(t for t in skill.tags if t not in shared)
            words.update(w.casefold() for w in name.split(".")[0].split("_"))
            for text in (*skill.examples, _DESCRIPTION_HEAD.split(skill.description)[0]):
                words.update(w.casefold() for w in object_words(text))
            for term in self._served.get(name, ()):
                words.update(re.findall(r"[a-z][a-z'-]{2,}", term))
        return sorted(words)

    def serves_word(self, word: str) -> bool:
        """Whether `word` is one of the words any skill of the network uses for what it
        serves ("hotel", "train", "jazz")."""
        return word.casefold() in self._served_words()

    def _served_words(self) -> set[str]:
        """Every word any skill of the network uses for what it serves (built once)."""
        if self._all_words is None:
            self._all_words = {w for name in self._skills for w in self.words_of(name)}
        return self._all_words

    def _family(self, capability: str) -> tuple[list[str], Vectors]:
        found = self._lexicon.get(capability)
        if found is None:
            words = self.words_of(capability)
            found = (words, self.embedder.embed(words))
            self._lexicon[capability] = found
        return found

    def similarity(self, capability: str, word: str) -> float:
        key = f"{capability}\0{word.casefold()}"
        cached = self._cache.get(key)
        if cached is None:
            words, matrix = self._family(capability)
            cached = (
                1.0
                if word.casefold() in words
                else (
                    float((matrix @ self.embedder.embed([word.casefold()])[0]).max())
                    if words
                    else 0.0
                )
            )
            self._cache[key] = cached
        return cached

    def judge(self, capability: str, clause: str, words: Sequence[str] | None = None) -> Verdict:
        """The thing asked for is the object's head ("tickets" of "concert tickets"): it
        must be near the family's words, or at least nearer to them than to any thing the
        network does not offer. A word before it ("concert") only qualifies it, and rules
        it out when it is nearer to a thing not offered than to anything served. `words`:
        the clause's object words when the caller has already found them."""
        words = tuple(object_words(clause) if words is None else words)
        lexicon, _ = self._family(capability)
        if not words or not lexicon:
            # No object, or a skill that says nothing of what it serves: routing decides.
            return Verdict(True, 1.0, words)
        *modifiers, head = words
        score = min(self.similarity(capability, w) for w in words)
        head_score = self.similarity(capability, head)
        offered = head_score >= self.threshold or head_score > self._unoffered(head) + NEARER_MARGIN
        for word in modifiers:
            if self.similarity(capability, word) >= self.threshold:
                continue
            if self._unoffered(word) > self._served_anywhere(word):
                offered = False
        return Verdict(offered, score, words)

    def names_unoffered(self, words: Iterable[str]) -> bool:
        """Whether any of `words` is clearly a thing this network does not offer ("car" of
        "car rental"): nearer to those things than to anything served, by `NEARER_MARGIN`."""
        return any(self._unoffered(w) > self._served_anywhere(w) + NEARER_MARGIN for w in words)

    def _unoffered(self, word: str) -> float:
        """How near `word` is to the things people ask for that this network does not
        offer (`NEGATIVE_OBJECTS`, less any word a skill serves)."""
        if self._negatives is None:
            words = sorted(
                {w.casefold() for o in NEGATIVE_OBJECTS for w in object_words(f"book {o}")}
                - self._served_words()
            )
            self._negatives = (words, self.embedder.embed(words))
        words, matrix = self._negatives
        if word.casefold() in words:
            return 1.0
        return float((matrix @ self.embedder.embed([word.casefold()])[0]).max()) if words else 0.0

    def _served_anywhere(self, word: str) -> float:
        return max((self.similarity(name, word) for name in self._skills), default=0.0)


_DESCRIPTION_HEAD = re.compile(r"[:;(]")


def _shared_tags(skills: Iterable[Skill]) -> set[str]:
    """Tags every skill carries ("travel", "music"): they tell nothing apart."""
    tag_sets = [set(s.tags) for s in skills]
    common = set.intersection(*tag_sets) if tag_sets else set()
    return common | {"search", "booking", "payment", "internal", "recommendation"}


def calibrate(
    judge: ScopeJudge,
    positives: Sequence[tuple[str, str]],
    negatives: Sequence[tuple[str, str]],
) -> tuple[float, dict[str, float]]:
    """The threshold that best separates in-scope (capability, clause) pairs from
    out-of-scope ones (most right, ties to the midpoint), and its rates."""
    pos = [judge.judge(c, t).score for c, t in positives]
    neg = [judge.judge(c, t).score for c, t in negatives]
    # The lowest cut with the most right: in-scope words the examples never used
    # ("hostel", "single") score lower than the examples' own, so keep them in.
    candidates = sorted({*pos, *neg})
    best, best_right = judge.threshold, -1
    for low, high in itertools.pairwise(candidates):
        cut = low + min(0.02, (high - low) / 2)
        right = sum(s >= cut for s in pos) + sum(s < cut for s in neg)
        if right > best_right:
            best, best_right = cut, right
    rates = {
        "in_scope_kept": sum(s >= best for s in pos) / max(1, len(pos)),
        "out_of_scope_caught": sum(s < best for s in neg) / max(1, len(neg)),
    }
    return best, rates
