"""Any-length input for the detector's layers: overlapping chunks, scored by their maximum.

An injection is a sentence or two hidden in a tool output that may be megabytes long. A
layer that reads a bounded window (a classifier, a language model's context) sees the text
in chunks of at most `size` characters, each starting `size - overlap` after the previous
one, so that an injection up to `overlap` characters long lies whole inside some chunk.
The text's score is its worst chunk's. Cutting is linear in the length, and chunks end
at a space where one is near, so that words are not split.
"""

from __future__ import annotations

from collections.abc import Iterator

from lamas.errors import InputError


def chunks(text: str, size: int = 512, overlap: int = 128) -> Iterator[str]:
    """`text` cut into overlapping pieces of at most `size` characters (one piece if short)."""
    if size <= 0 or not 0 <= overlap < size:
        raise InputError(f"chunks need size > 0 and 0 <= overlap < size, got {size}, {overlap}")
    if len(text) <= size:
        yield text
        return
    start = 0
    while True:
        end = min(len(text), start + size)
        if end < len(text):
            # End at the last space of the chunk's final quarter, if there is one.
            space = text.rfind(" ", end - size // 4, end)
            if space > start + overlap:
                end = space
        yield text[start:end]
        if end >= len(text):
            return
        start = max(start + 1, end - overlap)
