"""Someone the request points at without naming: "their newest one", "something by her".

A model asked to fill the artist of "play their latest single" invents one, and a search
with no artist plays anybody's: either way the user hears the wrong thing. A request that
points at a person it never names is a question back ("which artist?"), unless a name is
said (then the name is the answer).
"""

from __future__ import annotations

import re

_WORKS = (
    r"(?:new|newest|latest|last|first|best|greatest|biggest|old|older|oldest|early|"
    r"songs?|album|single|music|hits?|stuff|tracks?|records?|tunes?|one)"
)
_UNNAMED = re.compile(
    rf"\b(?:their|his|her)\s+(?:\w+\s+)?{_WORKS}\b"
    r"|\bby\s+(?:him|her|them)\b"
    r"|\b(?:that|this|the\s+same)\s+(?:singer|band|artist|group|rapper|duo|guy|girl)\b"
    r"(?!\s+(?:who|that|from|with|called|named)\b)",
    re.I,
)

PEOPLE = frozenset({"artist", "person", "performer", "author", "composer"})
"""Kinds of name (a vocabulary's `kind`) a person is said by."""


def points_at_someone_unnamed(text: str) -> bool:
    """Whether `text` refers to a person by a pronoun or "that singer" alone."""
    return _UNNAMED.search(text) is not None
