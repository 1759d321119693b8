"""Thresholds from benign traffic: a layer flags a text when its score is *at or above* its
threshold, and the threshold is the lowest value that flags at most the stated share of
held-out benign texts.

Inclusive, because a score is evidence: an injection scoring exactly what a rule weighs
must not pass because the comparison was strict. The lowest such threshold is just above
the (k+1)-th highest benign score, k = floor(fpr * n): ties at that score all pass, so
the budget holds even when many benign texts score alike. Deterministic: the same scores
give the same threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lamas.errors import InputError


def flags(score: float, threshold: float) -> bool:
    """The one comparison every layer's verdict goes through."""
    return score >= threshold


def inclusive_threshold(benign_scores: Sequence[float], fpr: float) -> float:
    """The lowest threshold with at most `fpr` of `benign_scores` at or above it."""
    if not benign_scores:
        raise InputError("calibration needs at least one benign text")
    if not 0 <= fpr < 1:
        raise InputError(f"the false-positive rate must be in [0, 1), got {fpr}")
    ordered = sorted(benign_scores, reverse=True)
    allowed = math.floor(fpr * len(ordered) + 1e-9)
    return math.nextafter(ordered[min(allowed, len(ordered) - 1)], math.inf)


@dataclass(frozen=True, slots=True)
class Calibrated:
    """A layer's calibration: the threshold and what it was measured on."""

    threshold: float
    target_fpr: float
    benign: int
    flagged: int

    @property
    def fpr(self) -> float:
        return self.flagged / self.benign if self.benign else 0.0


def calibrate(benign_scores: Sequence[float], fpr: float, floor: float = -math.inf) -> Calibrated:
    """`inclusive_threshold`, never below `floor`, with the share it flags on the same texts."""
    threshold = max(floor, inclusive_threshold(benign_scores, fpr))
    flagged = sum(flags(s, threshold) for s in benign_scores)
    return Calibrated(threshold, fpr, len(benign_scores), flagged)
