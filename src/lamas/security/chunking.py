"""Any-length input for the detector's layers: overlapping windows, scored by their maximum.

An injection is a sentence or two hidden in a tool output that may be megabytes long. A
layer that reads a bounded window (a classifier, a language model's context) sees the
text in windows of at most `size` items (tokens), each starting `stride` after the
previous one, so that an injection up to `size - stride` items long lies whole inside some
window, next to at most `stride` items of other text. The text's score is its worst
window's. The windows are listed in time linear in the length.
"""

from __future__ import annotations

import math

from lamas.errors import InputError
from lamas.security.layer import Layer, LayerScore


def spans(n: int, size: int, stride: int) -> list[tuple[int, int]]:
    """`[start, end)` windows over `n` items: every item in one, the last one ending at `n`
    (one window `(0, n)` when `n <= size`, `(0, 0)` when there is nothing)."""
    if size <= 0 or not 0 < stride <= size:
        raise InputError(f"windows need size > 0 and 0 < stride <= size, got {size}, {stride}")
    if n <= size:
        return [(0, n)]
    out = [(start, start + size) for start in range(0, n - size + 1, stride)]
    if out[-1][1] < n:
        out.append((n - size, n))
    return out


class WindowedLayer:
    """A layer read in overlapping character windows: the score of a longer text is its
    worst window's (with that window's reasons). For layers whose own cost grows faster
    than the length (regular expressions that backtrack), this bounds the cost per window,
    so the whole text costs time linear in its length.

    Name, threshold and floor are the wrapped layer's, so calibration sets them there.
    """

    def __init__(self, inner: Layer, *, size: int = 1024, stride: int = 768) -> None:
        spans(0, size, stride)  # validates the settings
        self.inner = inner
        self.name = inner.name
        self.floor = inner.floor
        self.size = size
        self.stride = stride

    @property
    def threshold(self) -> float:
        return self.inner.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.inner.threshold = value

    def score(self, text: str) -> LayerScore:
        if len(text) <= self.size:
            return self.inner.score(text)
        best = LayerScore(-math.inf)
        for start, end in spans(len(text), self.size, self.stride):
            result = self.inner.score(text[start:end])
            if result.score > best.score:
                best = result
        return best
