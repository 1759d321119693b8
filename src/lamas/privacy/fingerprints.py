"""Fingerprints of vault values: how a guard recognises a value it must never hold.

The vault gives the guard keyed BLAKE2b digests of its values, never the values. A
value is normalised to its alphanumeric tokens, case-folded ("4970 1012-3456 7893" and
"49701012 34567893" are the same tokens joined differently), and fingerprinted twice:
as its token sequence and as all its tokens run together. To scan a text, the guard
tokenises it the same way and hashes only the tokens as long as some value's longest
("anchor") token; an anchor hit is then confirmed on the run of tokens around it. So a
message costs one regex pass and a handful of hashes, not a hash per substring.

Limits, on purpose: a value shorter than `MIN_CHARS` alphanumeric characters (a star
rating, "window") is too common to tell from ordinary text and is not fingerprinted;
a value glued inside a longer token ("id19AB48213") is not seen. The digests are an
oracle: whoever holds them can test a guess. They are keyed per vault and stay with
the guard; they never travel in envelopes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MIN_CHARS = 8
_SEEN_MAX = 65_536
# Bytes to words in one C pass: ASCII letters lowered, digits and non-ASCII bytes (UTF-8
# letters) kept, everything else a separator. A regex over a message costs 30x more.
_WORD_BYTES = bytes(
    c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c >= 128) else 32
    for c in range(256)
)


def tokens(text: str | bytes) -> list[bytes]:
    raw = text.encode() if isinstance(text, str) else text
    return raw.translate(_WORD_BYTES).split()


def leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every scalar inside `value` as text, with its dotted path (`preferences.hotel.x`)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from leaves(inner, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            yield from leaves(inner, f"{path}[{index}]")
    elif value is not None and not isinstance(value, bool):
        yield path, str(value)


@dataclass(frozen=True, slots=True)
class _Candidate:
    offset: int  # where the anchor token sits in the value's tokens
    length: int  # how many tokens the value has
    digest: bytes  # of the value's tokens joined by one space


@dataclass
class Fingerprints:
    """Keyed digests of a vault's values, indexed for a fast scan."""

    key: bytes = field(default_factory=lambda: os.urandom(16), repr=False)
    anchors: dict[bytes, list[_Candidate]] = field(default_factory=dict, repr=False)
    names: dict[bytes, str] = field(default_factory=dict, repr=False)
    anchor_lengths: set[int] = field(default_factory=set)
    # Words already classified: not an anchor (most), or an anchor and its candidates.
    _clean: set[bytes] = field(default_factory=set, repr=False)
    _hits: dict[bytes, list[_Candidate]] = field(default_factory=dict, repr=False)

    def _hash(self, word: bytes) -> bytes:
        return hashlib.blake2b(word, key=self.key, digest_size=12).digest()

    @classmethod
    def of(cls, values: Mapping[str, Any], *, key: bytes | None = None) -> Fingerprints:
        prints = cls(key=key) if key is not None else cls()
        for name, value in values.items():
            for path, text in leaves(value, name):
                prints.add(path, text)
        return prints

    def add(self, name: str, text: str) -> None:
        self._clean.clear()
        self._hits.clear()
        words = tokens(text)
        if sum(map(len, words)) < MIN_CHARS:
            return
        forms = [words] if len(words) == 1 else [words, [b"".join(words)]]
        for form in forms:
            digest = self._hash(b" ".join(form))
            self.names[digest] = name
            anchor = max(range(len(form)), key=lambda i: len(form[i]))
            self.anchor_lengths.add(len(form[anchor]))
            self.anchors.setdefault(self._hash(form[anchor]), []).append(
                _Candidate(anchor, len(form), digest)
            )

    def __len__(self) -> int:
        return len(self.names)

    def find(self, text: str) -> str | None:
        """The name of a vault field whose value appears in `text`, or None."""
        return self.find_tokens(tokens(text))

    def find_tokens(self, words: list[bytes]) -> str | None:
        """`find` over text already split by `tokens`."""
        if not self.anchors:
            return None
        clean = self._clean
        if clean.issuperset(words):  # in C: every word was seen before and is no anchor
            return None
        present = set(words)
        fresh = present - clean
        if fresh:
            lengths = self.anchor_lengths
            for word in fresh:
                if len(word) in lengths and self._hash(word) in self.anchors:
                    self._hits[word] = self.anchors[self._hash(word)]
                else:
                    if len(self._clean) >= _SEEN_MAX:
                        self._clean.clear()
                    self._clean.add(word)
        if present.isdisjoint(self._hits):
            return None
        for index, word in enumerate(words):  # rare: an anchor is here; confirm the run
            for candidate in self._hits.get(word, ()):
                start = index - candidate.offset
                if start < 0 or start + candidate.length > len(words):
                    continue
                # A one-token value's digest is its anchor's: the anchor hit is the match.
                if candidate.length == 1:
                    return self.names[candidate.digest]
                if (
                    self._hash(b" ".join(words[start : start + candidate.length]))
                    == candidate.digest
                ):
                    return self.names[candidate.digest]
        return None

    def find_in(self, texts: Iterable[str]) -> str | None:
        for text in texts:
            found = self.find(text)
            if found is not None:
                return found
        return None
