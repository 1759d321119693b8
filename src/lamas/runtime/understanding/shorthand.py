"""Chat spellings read as the words they stand for: "tonite", "3 nites", "smth", "2moro".

Typed on a phone, a request spells time words the date resolver and the clause reader do
not know; each is expanded once, before the request is read (names are never touched:
only these lower-case spellings are).
"""

from __future__ import annotations

import re

_SPELLINGS: dict[str, str] = {
    "tonite": "tonight",
    "2nite": "tonight",
    "2night": "tonight",
    "nite": "night",
    "nites": "nights",
    "2moro": "tomorrow",
    "2morrow": "tomorrow",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tomoz": "tomorrow",
    "tmw": "tomorrow",
    "wknd": "weekend",
    "wkend": "weekend",
    "nxt": "next",
    "smth": "something",
    "sth": "something",
    "smthg": "something",
    "b4": "before",
    "mornin": "morning",
    "w/": "with",
    "ppl": "people",
    "ur": "your",
    "u": "you",
    "thx": "thanks",
    "plz": "please",
    "pls": "please",
}
_SPELLING = re.compile(
    r"(?<![\w'-])("
    + "|".join(re.escape(k) for k in sorted(_SPELLINGS, key=len, reverse=True))
    + r")(?![\w'-])"
)


def expand(text: str) -> str:
    """`text` with its chat spellings written out."""
    return _SPELLING.sub(lambda m: _SPELLINGS[m.group(1)], text)
