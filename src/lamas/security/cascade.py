"""Two stages for one layer: a cheap first reading, and a costly second one only where the
first is not sure.

The word-piece layer (`learned.py`) costs about a millisecond per output; a sentence
encoder (`sentences.py`, MiniLM) tens of milliseconds per sentence on one core, too much
for every output within the detector's 20 ms budget. `Cascade` runs the second stage
only on texts the first scores at or above `gate` (set at training time so that the first
stage passes nearly every training attack on); there the second stage decides. Below the
gate the text is not flagged by this layer: its score is 0 and the reason says why.
"""

from __future__ import annotations

from lamas.security.layer import Layer, LayerScore


class Cascade:
    """`first` screens, `second` decides for the texts `first` scores at or above `gate`.

    Name: `name`; threshold and floor are the second stage's (so calibration sets them
    there, on the texts that reach it)."""

    def __init__(self, first: Layer, second: Layer, *, gate: float, name: str = "learned") -> None:
        self.first = first
        self.second = second
        self.gate = gate
        self.name = name
        self.floor = second.floor

    @property
    def threshold(self) -> float:
        return self.second.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.second.threshold = value

    def score(self, text: str) -> LayerScore:
        screened = self.first.score(text)
        if screened.score < self.gate:
            return LayerScore(
                0.0, (f"{self.first.name} {screened.score:.3f} below the gate {self.gate:.3f}",)
            )
        decided = self.second.score(text)
        return LayerScore(
            decided.score,
            (f"{self.first.name} {screened.score:.3f} >= gate {self.gate:.3f}", *decided.reasons),
        )
