"""Preferences and constraints of a request, extracted once and used twice.

"the first train of the morning", "the cheapest", "a 4-star hotel under 120 euros",
"something relaxing", "their newest song": each becomes a field of `Preferences`.
The orchestrator passes what a search skill accepts as inputs (`search_inputs`:
only the names its input schema has) and ranks the offers it gets back by the rest
(`rank`), so the vote and the booking choose among offers that keep the user's word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

_PICKS: tuple[tuple[str, str], ...] = (
    (r"\b(?:first|earliest)\b", "earliest"),
    (r"\b(?:last|latest)\s+(?:train|one|departure|service|connection)\b", "latest"),
    (r"\blast\b(?!\s+(?:week|month|year|night|time))", "latest"),
    (
        r"\b(?:cheapest|cheap|cheaper|budget|least\s+expensive|lowest\s+price|low-cost)\b",
        "cheapest",
    ),
    (r"\b(?:newest|latest|most\s+recent|new(?:est)?\s+(?:song|single|track|release))\b", "newest"),
    (r"\b(?:oldest|earliest\s+(?:song|recording|track))\b", "oldest"),
    (r"\b(?:nearest|closest)\b", "nearest"),
)
_MOODS: dict[str, str] = {
    "relaxing": "calm",
    "relaxed": "calm",
    "relax": "calm",
    "calm": "calm",
    "quiet": "calm",
    "chill": "calm",
    "chilled": "calm",
    "soothing": "calm",
    "mellow": "calm",
    "peaceful": "calm",
    "soft": "calm",
    "happy": "happy",
    "cheerful": "happy",
    "joyful": "happy",
    "feel-good": "happy",
    "upbeat": "energetic",
    "energetic": "energetic",
    "energy": "energetic",
    "energising": "energetic",
    "energizing": "energetic",
    "pumped": "energetic",
    "workout": "energetic",
    "running": "energetic",
    "pump": "energetic",
    "party": "energetic",
    "sad": "sad",
    "melancholic": "sad",
    "melancholy": "sad",
    "heartbreak": "sad",
    "romantic": "romantic",
    "love": "romantic",
    "angry": "angry",
}
_STARS = re.compile(
    r"\b(\d|one|two|three|four|five)[\s-]*stars?\b|\bat\s+least\s+(\d|three|four|five)\s+stars?\b",
    re.I,
)
_STAR_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_MAX_PRICE = re.compile(
    r"\b(?:under|below|less\s+than|max(?:imum)?|at\s+most|no\s+more\s+than|up\s+to)\s+"
    r"(?:€|eur\s*|euros?\s*)?(\d{2,4})(?:\s*(?:€|eur|euros?))?(?!\s*(?:bpm|\d|min|minutes|h\b))",
    re.I,
)
_SLOW = re.compile(r"\b(?:slow|slower|gentle|downtempo)\b", re.I)
_FAST = re.compile(r"\b(?:fast|faster|high[- ]tempo|uptempo|up-tempo)\b", re.I)


@dataclass(frozen=True, slots=True)
class Preferences:
    pick: str | None = None
    """earliest | latest | cheapest | newest | oldest | nearest"""
    min_stars: int | None = None
    max_price: float | None = None
    mood: str | None = None
    min_tempo_bpm: int | None = None
    max_tempo_bpm: int | None = None
    era: str | None = None
    """A decade, as "1980s" ("80s", "the eighties", "années 60")."""

    def __bool__(self) -> bool:
        return any(getattr(self, name) is not None for name in self.__slots__)

    def search_inputs(self, input_schema: Mapping[str, Any]) -> dict[str, Any]:
        """The preferences a search skill takes as inputs (only the names its schema has)."""
        properties = input_schema.get("properties", {})
        values: dict[str, Any] = {}
        for name in ("min_stars", "max_price", "mood", "min_tempo_bpm", "max_tempo_bpm", "era"):
            value = getattr(self, name)
            if value is not None and name in properties:
                values[name] = value
        sort = properties.get("sort", {})
        if self.pick in ("newest", "oldest") and self.pick in sort.get("enum", [self.pick]):
            values["sort"] = self.pick
        return values

    def rank(self, offers: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """`offers` best first by the user's pick (stable: ties keep the vendor's order),
        without those that break a hard constraint (stars, price) when others keep it."""
        kept = [o for o in offers if self._keeps(o)] or list(offers)
        key = _PICK_KEYS.get(self.pick or "")
        return sorted(kept, key=key) if key is not None else kept

    def best(self, offers: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        """The one offer the user's pick singles out ("the first train"), or None when the
        pick does not decide (no pick, or a tie at the top)."""
        key = _PICK_KEYS.get(self.pick or "")
        ranked = self.rank(list(offers))
        if key is None or not ranked:
            return None
        if len(ranked) > 1 and key(ranked[0]) == key(ranked[1]):
            return None
        return ranked[0]

    def _keeps(self, offer: Mapping[str, Any]) -> bool:
        stars = _number(offer.get("stars"))
        if self.min_stars is not None and stars is not None and stars < self.min_stars:
            return False
        price = _number(offer.get("price_per_night", offer.get("price")))
        return not (self.max_price is not None and price is not None and price > self.max_price)

    def describe(self) -> str:
        """The preferences in words, for a vote's question and the user's answer."""
        said = []
        if self.pick:
            said.append(self.pick)
        if self.min_stars:
            said.append(f"at least {self.min_stars} stars")
        if self.max_price:
            said.append(f"at most {self.max_price:g} EUR")
        if self.mood:
            said.append(f"{self.mood} mood")
        if self.max_tempo_bpm:
            said.append(f"under {self.max_tempo_bpm} bpm")
        if self.min_tempo_bpm:
            said.append(f"over {self.min_tempo_bpm} bpm")
        return ", ".join(said)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _minutes(offer: Mapping[str, Any]) -> int | None:
    """The departure of a train offer in minutes after midnight ("2026-12-10T07:42" or "07:42")."""
    found = re.search(r"(\d{2}):(\d{2})(?::\d{2})?$", str(offer.get("depart", "")))
    return int(found.group(1)) * 60 + int(found.group(2)) if found else None


_PICK_KEYS: dict[str, Any] = {
    "earliest": lambda o: m if (m := _minutes(o)) is not None else 24 * 60,
    "latest": lambda o: -m if (m := _minutes(o)) is not None else 0,
    "cheapest": lambda o: (
        _number(o.get("total", o.get("price_per_night", o.get("price")))) or float("inf")
    ),
    "newest": lambda o: -(_number(o.get("year")) or 0),
    "oldest": lambda o: _number(o.get("year")) or 9999,
    "nearest": lambda o: _number(o.get("distance_km")) or float("inf"),
}


def extract(text: str, *, music: bool = False) -> Preferences:
    """The preferences `text` states. `music`: "latest" means the newest release, not the
    last departure."""
    prefs = Preferences()
    lowered = text.casefold()
    for pattern, pick in _PICKS:
        if re.search(pattern, lowered):
            if music and pick in ("latest", "earliest"):
                pick = "newest" if pick == "latest" else "oldest"
            if not music and pick in ("newest", "oldest"):
                continue
            prefs = replace(prefs, pick=pick)
            break
    if match := _STARS.search(lowered):
        said = match.group(1) or match.group(2)
        stars = int(said) if said.isdigit() else _STAR_WORDS[said]
        prefs = replace(prefs, min_stars=stars)
    if match := _MAX_PRICE.search(lowered):
        prefs = replace(prefs, max_price=float(match.group(1)))
    if music:
        for word, mood in _MOODS.items():
            if re.search(rf"\b{re.escape(word)}\b", lowered):
                prefs = replace(prefs, mood=mood)
                break
        if match := _MAX_BPM.search(lowered):
            prefs = replace(prefs, max_tempo_bpm=int(match.group(1)))
        elif match := _MIN_BPM.search(lowered):
            prefs = replace(prefs, min_tempo_bpm=int(match.group(1)))
        elif _SLOW.search(lowered) or prefs.mood == "calm":
            prefs = replace(prefs, max_tempo_bpm=100)
        elif _FAST.search(lowered):
            prefs = replace(prefs, min_tempo_bpm=120)
        prefs = replace(prefs, era=decade(lowered))
    return prefs


_MAX_BPM = re.compile(
    r"\b(?:under|below|less\s+than|no\s+more\s+than|not\s+(?:over|above|more\s+than)|"
    r"max(?:imum)?|at\s+most|up\s+to|nothing\s+(?:over|above))\s+(\d{2,3})\s*bpm\b"
)
_MIN_BPM = re.compile(
    r"\b(?:over|above|more\s+than|at\s+least|min(?:imum)?|faster\s+than)\s+(\d{2,3})\s*bpm\b"
)
_DECADE_WORDS = {
    "fifties": "1950s",
    "sixties": "1960s",
    "seventies": "1970s",
    "eighties": "1980s",
    "nineties": "1990s",
    "noughties": "2000s",
}
_DECADE = re.compile(
    r"(?<![\w-])(?:(19|20)(\d)0|['\u2019]?(\d)0)['\u2019]?s\b|\bann[ée]es\s+((?:19)?\d0)\b"
)


def decade(text: str) -> str | None:
    """The decade `text` names ("the 80s", "'90s", "2000s", "the sixties", "années 60")."""
    for word, era in _DECADE_WORDS.items():
        if re.search(rf"\b{word}\b", text):
            return era
    match = _DECADE.search(text)
    if match is None:
        return None
    if match.group(1):
        return f"{match.group(1)}{match.group(2)}0s"
    digit = match.group(3) or match.group(4)[-2]
    return f"{'20' if digit in '012' else '19'}{digit}0s"
