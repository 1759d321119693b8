"""What a layer of the injection detector is: something that scores a text, with a
threshold above which it flags it (calibrated on clean traffic by `Detector`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LayerScore:
    score: float
    reasons: tuple[str, ...] = ()


class Layer(Protocol):
    """One layer of the detector."""

    name: str
    threshold: float
    floor: float
    """Calibration never sets the threshold below this."""

    def score(self, text: str) -> LayerScore: ...
