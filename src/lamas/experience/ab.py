"""A prompt-variant A/B harness: assign variants, measure success, pick the better one.

Each variant is tried `min_trials` times, then assignment is Thompson sampling over
each variant's Beta posterior (so traffic drifts to the better prompt while the test
runs); a winner is declared once the posterior probability that it is best reaches
`confidence`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from lamas.errors import InputError


@dataclass(frozen=True, slots=True)
class VariantStats:
    name: str
    trials: int
    successes: int
    p_best: float

    @property
    def success_rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


class PromptABTest:
    def __init__(
        self,
        variants: Mapping[str, str],
        *,
        seed: int | None = None,
        min_trials: int = 10,
        confidence: float = 0.95,
        samples: int = 4000,
    ) -> None:
        if len(variants) < 2:
            raise InputError(f"an A/B test needs two or more prompt variants, got {len(variants)}")
        self.variants = dict(variants)
        self.random = random.Random(seed)
        self.min_trials = min_trials
        self.confidence = confidence
        self.samples = samples
        self.trials = dict.fromkeys(self.variants, 0)
        self.successes = dict.fromkeys(self.variants, 0)

    def assign(self) -> tuple[str, str]:
        """A variant's name and prompt for the next trial."""
        # Every variant gets its `min_trials` first (a verdict needs them), least-tried
        # first; then Thompson sampling sends more traffic to the likely better one.
        short = [n for n in self.variants if self.trials[n] < self.min_trials]
        if short:
            name = min(short, key=lambda n: self.trials[n])
        else:
            name = max(self.variants, key=self._draw)
        return name, self.variants[name]

    def record(self, name: str, ok: bool) -> None:
        if name not in self.variants:
            raise InputError(f"no variant {name!r}; variants: {', '.join(self.variants)}")
        self.trials[name] += 1
        self.successes[name] += int(ok)

    def stats(self) -> list[VariantStats]:
        """Each variant's record and its posterior probability of being the best (Monte
        Carlo over `samples` joint draws)."""
        import numpy as np

        names = list(self.variants)
        rng = np.random.default_rng(self.random.getrandbits(64))
        draws = np.stack(
            [
                rng.beta(
                    1 + self.successes[n], 1 + self.trials[n] - self.successes[n], self.samples
                )
                for n in names
            ]
        )
        wins = np.bincount(draws.argmax(axis=0), minlength=len(names))
        return [
            VariantStats(n, self.trials[n], self.successes[n], float(wins[i]) / self.samples)
            for i, n in enumerate(names)
        ]

    def winner(self) -> str | None:
        """The better variant once the evidence says so, else None (keep testing)."""
        if min(self.trials.values()) < self.min_trials:
            return None
        best = max(self.stats(), key=lambda s: s.p_best)
        return best.name if best.p_best >= self.confidence else None

    def _draw(self, name: str) -> float:
        return self.random.betavariate(
            1 + self.successes[name], 1 + self.trials[name] - self.successes[name]
        )
