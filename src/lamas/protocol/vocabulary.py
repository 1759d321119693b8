"""What a skill knows by name, and how a word maps onto it (issue 13, entity resolution).

An agent publishes the names its skills understand in its card
(`AgentCard.vocabularies`, one `PublishedVocabulary` per kind of name) and marks each
input property that takes such a name with the JSON Schema extension keyword
`x-vocabulary` (docs/vocabulary.md). `Vocabulary.from_card(card, skill, slot)` reads that
back as a pure value the orchestrator's entity resolver maps the user's words onto
before calling, and the vendors resolve their own inputs with the same rules, so the
caller and the callee agree on what "Part-Dieu" or "chill" means.

Matching is deliberately plain: accents, case and punctuation are folded away; a word
is a name or one of its aliases, or a whole-word part of exactly one of them ("part
dieu"), or holds exactly one of them ("the Eiffel Tower"). Anything else is an
`UnknownTerm` whose suggestions are the closest names by `rapidfuzz`'s weighted ratio,
never a silent guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from lamas.errors import UnknownTerm
from lamas.protocol.cards import AgentCard, PublishedVocabulary, vocabulary_refs

SUGGESTION_CUTOFF = 72.0
"""The score (0-100, `similarity`) below which a known name is no suggestion: above it,
typos and missing words ("Marseile", "Lion", "k-pop"); below, unrelated names ("London"
is no "Lyon", "Big Ben" no "Saint-Bénigne"), which rapidfuzz's WRatio would let through."""
SUBSET_WEIGHT = 0.9
"""How much a word-subset match ("nimes" in "nimes centre") counts against a full one."""
MIN_HELD_KEY = 4
"""The shortest name found *inside* a longer word ("the eiffel tower near..."): shorter
keys ("nice", "metz" are 4) would match any sentence by chance below that."""

MAX_NAME = 200
"""The longest text taken for a name: longer is no name, and is refused before fuzzy
matching (which costs in proportion to the text's length times the vocabulary's)."""
LISTED = 20
"""An unknown name's error lists the known names when there are at most this many."""

V = TypeVar("V")

_DID_YOU_MEAN = re.compile(r'did you mean ((?:"[^"]+"(?:, | or )?)+)\?')


def fold(text: str) -> str:
    """A name as a lookup key: no accents, no case, punctuation as single spaces."""
    plain = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "OE"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z&]+", " ", plain.casefold()).split())


def _frozen(mapping: Mapping[str, V]) -> Mapping[str, V]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Vocabulary:
    """The names one slot accepts: canonical `names`, `aliases` (a name -> the other
    spellings it goes by), the `kind` of name, and `within` (a name -> the name it lies
    in, e.g. a station -> its city). An alias may belong to several names ("Bastille" in
    Paris and in Grenoble): looked up, it is ambiguous until the vocabulary is narrowed
    with `in_place`."""

    kind: str
    names: tuple[str, ...]
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _frozen({}))
    within: Mapping[str, str] = field(default_factory=lambda: _frozen({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        aliases = {n: tuple(a) for n, a in self.aliases.items()}
        object.__setattr__(self, "aliases", _frozen(aliases))
        object.__setattr__(self, "within", _frozen(self.within))
        keys: dict[str, set[str]] = {}
        for name in self.names:
            keys.setdefault(fold(name), set()).add(name)
        for name, spellings in aliases.items():
            for alias in spellings:
                keys.setdefault(fold(alias), set()).add(name)
        keys.pop("", None)
        object.__setattr__(self, "_keys", {k: frozenset(v) for k, v in keys.items()})

    def __hash__(self) -> int:  # the mappings are read-only views: hash what defines them
        return hash((self.kind, self.names, tuple(sorted(self.aliases.items()))))

    # --- building ---------------------------------------------------------------------

    @classmethod
    def from_published(cls, block: PublishedVocabulary) -> Vocabulary:
        return cls(block.kind, block.names, block.aliases, block.within)

    @classmethod
    def from_card(cls, card: AgentCard, skill: str, slot: str) -> Vocabulary | None:
        """The vocabulary `card` publishes for input `slot` of `skill` (several named ones
        merged into one), or None when the slot takes free text."""
        declared = card.skill(skill)
        if declared is None:
            return None
        refs = vocabulary_refs(declared.input_schema).get(slot)
        if not refs:
            return None
        return cls.merged(cls.from_published(card.vocabularies[r]) for r in refs)

    @classmethod
    def merged(cls, parts: Iterable[Vocabulary]) -> Vocabulary:
        """One vocabulary with every part's names (kinds joined by '|')."""
        parts = list(parts)
        names = tuple(dict.fromkeys(n for p in parts for n in p.names))
        aliases: dict[str, tuple[str, ...]] = {}
        for part in parts:
            for name, spellings in part.aliases.items():
                aliases[name] = tuple(dict.fromkeys((*aliases.get(name, ()), *spellings)))
        within = {n: w for p in parts for n, w in p.within.items()}
        return cls("|".join(dict.fromkeys(p.kind for p in parts)), names, aliases, within)

    def restricted(self, names: Iterable[str], kind: str | None = None) -> Vocabulary:
        """The part of this vocabulary that names only `names` (say, one city's places)."""
        keep = set(names)
        return Vocabulary(
            kind or self.kind,
            tuple(n for n in self.names if n in keep),
            {n: a for n, a in self.aliases.items() if n in keep},
            {n: w for n, w in self.within.items() if n in keep},
        )

    def in_place(self, container: str) -> Vocabulary:
        """The names that lie within `container` (or are it)."""
        return self.restricted(n for n in self.names if self.within.get(n) == container)

    def to_published(self) -> PublishedVocabulary:
        return PublishedVocabulary(
            kind=self.kind, names=self.names, aliases=dict(self.aliases), within=dict(self.within)
        )

    # --- matching ---------------------------------------------------------------------

    @property
    def _index(self) -> Mapping[str, frozenset[str]]:
        index: Mapping[str, frozenset[str]] = self.__dict__["_keys"]
        return index

    def named(self, text: str) -> tuple[str, ...]:
        """The names `text` is exactly (a name or an alias, folded), no partial matches."""
        return tuple(sorted(self._index.get(fold(text), ())))

    def exact(self, text: str) -> tuple[str, ...]:
        """The canonical names `text` is, exactly (a name or an alias, folded)."""
        return tuple(sorted(self._index.get(fold(text), ())))

    def mentioned(self, text: str, *, longest: int = 5) -> list[str]:
        """The names said in `text`, in order, each from the longest run of words that is
        a name or alias ("Gare de Lyon" is one station, not the city of Lyon)."""
        words = fold(text).split()
        found: list[str] = []
        start = 0
        while start < len(words):
            for size in range(min(longest, len(words) - start), 0, -1):
                names = self._index.get(" ".join(words[start : start + size]))
                if names and len(names) == 1:
                    found.extend(names)
                    start += size
                    break
            else:
                start += 1
        return found

    def candidates(self, text: str) -> tuple[str, ...]:
        """The canonical names `text` may stand for, by the module's rules, best first."""
        key = fold(text[: MAX_NAME * 2])
        if not key:
            return ()
        index = self._index
        if key in index:
            return tuple(sorted(index[key]))
        padded = f" {key} "
        part_of = {n for k, ns in index.items() if padded in f" {k} " for n in ns}
        if part_of:
            return tuple(sorted(part_of))
        held = [k for k in index if len(k) >= MIN_HELD_KEY and f" {k} " in padded]
        if not held:
            return ()
        # "the main station in Marseille": a place named with its container is the place.
        named = {n for k in held for n in index[k]}
        inside = {n for n in named if self.within.get(n) in named}
        if inside:
            return tuple(sorted(inside))
        longest = max(len(k) for k in held)
        return tuple(sorted({n for k in held if len(k) == longest for n in index[k]}))

    def lookup(self, text: str) -> str | None:
        """The one canonical name `text` stands for, or None (unknown or ambiguous)."""
        found = self.candidates(text)
        return found[0] if len(found) == 1 else None

    def suggest(self, text: str, limit: int = 3) -> tuple[str, ...]:
        """The known names closest to `text`, best first (none when nothing is close)."""
        from rapidfuzz import process

        key = fold(text[:MAX_NAME])
        if not key:
            return ()
        index = self._index
        scored = process.extract(
            key, list(index), scorer=similarity, limit=limit * 4, score_cutoff=SUGGESTION_CUTOFF
        )
        best: dict[str, float] = {}
        for found_key, score, _ in scored:
            for name in sorted(index[found_key]):
                best[name] = max(best.get(name, 0.0), score)
        ranked = sorted(best, key=lambda n: (-best[n], len(n), n))
        return tuple(ranked[:limit])

    def resolve(
        self, text: str, *, slot: str | None = None, error: type[UnknownTerm] = UnknownTerm
    ) -> str:
        """The canonical name `text` stands for, or an `UnknownTerm` (or the subclass
        `error`) that names the slot, has the closest names as `suggestions`, and says them
        in its message."""
        kind = self.kind.replace("|", " or ")
        what = slot or kind
        if len(text) > MAX_NAME:
            raise error(
                f"{what} is {len(text)} characters long: no {kind} name is longer than "
                f"{MAX_NAME}",
                slot=slot,
                value=text[:MAX_NAME],
                kind=self.kind,
            )
        found = self.candidates(text)
        if len(found) == 1:
            return found[0]
        if found:
            raise error(
                f"{what} {text!r} is ambiguous: did you mean {quoted(found[:6])}?",
                slot=slot,
                value=text,
                kind=self.kind,
                suggestions=found,
                ambiguous=True,
            )
        close = self.suggest(text)
        listed = ", ".join(self.names[:LISTED])
        more = f" and {len(self.names) - LISTED} more" if len(self.names) > LISTED else ""
        known = f"the known {kind} names are: {listed}{more}"
        if close:
            hint = f"did you mean {quoted(close)}?"
            if len(self.names) <= LISTED:
                hint += f" ({known})"
        else:
            hint = known
        raise error(
            f"unknown {what} {text!r} (not a known {kind}); {hint}",
            slot=slot,
            value=text,
            kind=self.kind,
            suggestions=close,
        )


def similarity(a: str, b: str, **_: Any) -> float:
    """How alike two folded names are, 0-100: the edit-distance ratio, or a little less
    for one name's words all being among the other's (rapidfuzz's scorer signature)."""
    from rapidfuzz import fuzz

    return max(fuzz.ratio(a, b), SUBSET_WEIGHT * fuzz.token_set_ratio(a, b))


def quoted(names: Iterable[str]) -> str:
    """`"A"`, `"A" or "B"`, `"A", "B" or "C"`: names as a "did you mean" lists them."""
    parts = [f'"{n}"' for n in names]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def suggestions_of(error: BaseException | str) -> tuple[str, ...]:
    """The names an error suggests: an `UnknownTerm`'s own, else those its text lists after
    "did you mean" (an error that crossed the network arrives as text)."""
    if isinstance(error, UnknownTerm):
        return error.suggestions
    match = _DID_YOU_MEAN.search(str(error))
    return tuple(re.findall(r'"([^"]+)"', match.group(1))) if match else ()


def published(vocabularies: Mapping[str, Vocabulary]) -> dict[str, Any]:
    """Vocabularies as the JSON a card's `vocabularies` holds (what a generator writes)."""
    return {
        name: v.to_published().model_dump(mode="json", exclude_defaults=True)
        for name, v in vocabularies.items()
    }
