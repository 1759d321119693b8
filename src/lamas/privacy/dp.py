"""Differential privacy for the statistics agents share (paper §3.1): counts, sums, means,
histograms and rates of user behaviour, with noise from OpenDP and a budget per dataset.

`PrivacyBudget` is a dataset's total (epsilon, delta). Every release spends from it by
basic composition, and a query that would overspend raises `BudgetExhausted` before any
noise is drawn: nothing is released and nothing is spent. With an engine the spending
is kept in the database (`privacy_spend`), so a budget survives restarts and is shared
by every process that releases statistics of the same dataset.

`DPStatistics(budget)` is the one small API an agent uses. Laplace noise (pure epsilon)
has scale = sensitivity / epsilon; Gaussian noise is calibrated in zero-concentrated DP
(rho) and converted to (epsilon, delta) by rho + 2 sqrt(rho ln(1/delta)) = epsilon.
Bounded queries clamp each value to [lower, upper]: that is what bounds the sensitivity.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from lamas.errors import BudgetExhausted, InputError

Mechanism = Literal["laplace", "gaussian"]
_SLACK = 1e-9  # float sums of many small epsilons must not refuse the last exact one


@lru_cache(maxsize=256)
def _noise(mechanism: Mechanism, integer: bool, scale: float) -> Callable[[Any], Any]:
    """An OpenDP measurement adding `mechanism` noise of `scale` (made once per scale)."""
    from lamas._extras import need

    need("opendp", "privacy", "differential privacy")
    import opendp.prelude as dp

    dp.enable_features("contrib")
    kind = int if integer else float
    domain = dp.atom_domain(T=kind) if integer else dp.atom_domain(T=float, nan=False)
    metric = dp.absolute_distance(T=kind)
    make = dp.m.make_laplace if mechanism == "laplace" else dp.m.make_gaussian
    measurement: Callable[[Any], Any] = make(domain, metric, scale=scale)
    return measurement


def gaussian_rho(epsilon: float, delta: float) -> float:
    """The zCDP rho whose (epsilon, delta)-DP conversion is exactly `epsilon` at `delta`."""
    log_term = math.log(1 / delta)
    return (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2


@dataclass(frozen=True, slots=True)
class Release:
    """One differentially private answer and what it cost."""

    query: str
    value: Any
    epsilon: float
    delta: float
    mechanism: Mechanism
    scale: float  # of the noise on each released number


@dataclass
class PrivacyBudget:
    """A dataset's total privacy budget and what has been spent from it."""

    dataset: str
    epsilon: float
    delta: float = 0.0
    engine: Any = None  # a SQLAlchemy engine to keep the spending in; None: in memory
    history: list[tuple[str, float, float]] = field(default_factory=list)
    _totals: tuple[int, float, float] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.epsilon <= 0 or not 0 <= self.delta < 1:
            raise InputError("a privacy budget needs epsilon > 0 and 0 <= delta < 1")
        if self.engine is not None:
            from sqlalchemy import select

            from lamas.store.privacy_tables import privacy_spend

            privacy_spend.create(self.engine, checkfirst=True)
            table = privacy_spend
            query = select(table.c.query, table.c.epsilon, table.c.delta).where(
                table.c.dataset == self.dataset
            )
            with self.engine.connect() as conn:
                self.history = [(q, e, d) for q, e, d in conn.execute(query.order_by(table.c.id))]

    @property
    def spent(self) -> tuple[float, float]:
        # Summed once per change, not per question: budgets answer thousands of queries.
        if self._totals is None or self._totals[0] != len(self.history):
            epsilon = math.fsum(e for _, e, _ in self.history)
            self._totals = (len(self.history), epsilon, math.fsum(d for _, _, d in self.history))
        return self._totals[1], self._totals[2]

    @property
    def remaining(self) -> tuple[float, float]:
        epsilon, delta = self.spent
        return (max(self.epsilon - epsilon, 0.0), max(self.delta - delta, 0.0))

    def spend(self, query: str, epsilon: float, delta: float = 0.0) -> None:
        """Record a release's cost, or refuse it (`BudgetExhausted`) and record nothing."""
        self.check(query, epsilon, delta)
        if self.engine is not None:
            from lamas.store.privacy_tables import privacy_spend

            with self.engine.begin() as conn:
                conn.execute(
                    privacy_spend.insert().values(
                        dataset=self.dataset,
                        query=query[:500],
                        epsilon=epsilon,
                        delta=delta,
                        at=time.time(),
                    )
                )
        self.history.append((query, epsilon, delta))
        if self._totals is not None:
            count, spent_epsilon, spent_delta = self._totals
            self._totals = (count + 1, spent_epsilon + epsilon, spent_delta + delta)

    def check(self, query: str, epsilon: float, delta: float = 0.0) -> None:
        """Raise `BudgetExhausted` if `query` would overspend; spends nothing."""
        if epsilon <= 0 or delta < 0:
            raise InputError(f"{query}: epsilon must be > 0 and delta >= 0")
        left_epsilon, left_delta = self.remaining
        if epsilon > left_epsilon + _SLACK or delta > left_delta + _SLACK:
            raise BudgetExhausted(
                f"{query} would spend epsilon {epsilon:g}, delta {delta:g} of dataset "
                f"{self.dataset!r}, which has epsilon {left_epsilon:g}, delta {left_delta:g} "
                f"left of {self.epsilon:g}, {self.delta:g}; ask a coarser question or give "
                "the dataset a new budget period"
            )


class DPStatistics:
    """Differentially private statistics over one dataset, paid from its budget."""

    def __init__(self, budget: PrivacyBudget) -> None:
        self.budget = budget

    def _release(
        self,
        query: str,
        exact: Sequence[float],
        sensitivity: float,
        epsilon: float,
        delta: float,
        mechanism: Mechanism,
        integer: bool,
    ) -> tuple[list[Any], float]:
        """Spend, then add noise to each of `exact` (a vector with L1/L2 `sensitivity`)."""
        if epsilon <= 0:
            raise InputError(f"{query}: epsilon must be > 0")
        if mechanism == "laplace":
            scale = sensitivity / epsilon
        else:
            if not 0 < delta < 1:
                raise InputError(f"{query}: the Gaussian mechanism needs 0 < delta < 1")
            scale = sensitivity / math.sqrt(2 * gaussian_rho(epsilon, delta))
        self.budget.spend(query, epsilon, delta if mechanism == "gaussian" else 0.0)
        noisy = _noise(mechanism, integer, scale)
        return [noisy(int(v) if integer else float(v)) for v in exact], scale

    def count(
        self,
        values: Iterable[Any],
        *,
        epsilon: float,
        mechanism: Mechanism = "laplace",
        delta: float = 0.0,
        query: str = "count",
    ) -> Release:
        """How many records (one user adds or removes one: sensitivity 1)."""
        (value,), scale = self._release(
            query, [sum(1 for _ in values)], 1.0, epsilon, delta, mechanism, integer=True
        )
        return Release(query, value, epsilon, delta, mechanism, scale)

    def sum(
        self,
        values: Iterable[float],
        *,
        lower: float,
        upper: float,
        epsilon: float,
        mechanism: Mechanism = "laplace",
        delta: float = 0.0,
        query: str = "sum",
    ) -> Release:
        """The sum of values clamped to [lower, upper] (sensitivity max(|lower|, |upper|))."""
        if lower > upper:
            raise InputError(f"{query}: lower {lower} is above upper {upper}")
        exact = sum(min(max(float(v), lower), upper) for v in values)
        sensitivity = max(abs(lower), abs(upper))
        (value,), scale = self._release(
            query, [exact], sensitivity, epsilon, delta, mechanism, integer=False
        )
        return Release(query, value, epsilon, delta, mechanism, scale)

    def mean(
        self,
        values: Iterable[float],
        *,
        lower: float,
        upper: float,
        epsilon: float,
        query: str = "mean",
    ) -> Release:
        """A noisy clamped sum over a noisy count, epsilon split evenly between the two."""
        data = list(values)
        self.budget.check(query, epsilon)  # both halves or neither
        total = self.sum(data, lower=lower, upper=upper, epsilon=epsilon / 2, query=f"{query}.sum")
        count = self.count(data, epsilon=epsilon / 2, query=f"{query}.count")
        value = min(max(total.value / max(count.value, 1), lower), upper)
        return Release(query, value, epsilon, 0.0, "laplace", total.scale)

    def histogram(
        self,
        values: Iterable[Any],
        *,
        categories: Sequence[Any],
        epsilon: float,
        query: str = "histogram",
    ) -> Release:
        """Counts per category (one user moves one count by one: L1 sensitivity 1; values
        outside `categories` are counted nowhere, so the categories must be fixed upfront)."""
        index = {c: i for i, c in enumerate(categories)}
        exact = [0] * len(categories)
        for value in values:
            if value in index:
                exact[index[value]] += 1
        noisy, scale = self._release(query, exact, 1.0, epsilon, 0.0, "laplace", integer=True)
        return Release(
            query, dict(zip(categories, noisy, strict=True)), epsilon, 0.0, "laplace", scale
        )

    def rate(self, hits: int, trials: int, *, epsilon: float, query: str = "rate") -> Release:
        """hits / trials (a click-through rate) from noisy counts of both, clamped to [0, 1].
        One user adds at most one trial and one hit: the pair's L1 sensitivity is 2."""
        if not 0 <= hits <= trials:
            raise InputError(f"{query}: need 0 <= hits <= trials, got {hits} of {trials}")
        noisy, scale = self._release(
            query, [hits, trials], 2.0, epsilon, 0.0, "laplace", integer=True
        )
        value = min(max(noisy[0] / max(noisy[1], 1), 0.0), 1.0)
        return Release(query, value, epsilon, 0.0, "laplace", scale)

    def rates_by_group(
        self,
        pairs: Mapping[str, tuple[int, int]],
        *,
        max_contribution: int,
        epsilon: float,
        query: str = "rates",
    ) -> Release:
        """Per group (an agent, say), hits / trials from noisy counts of both, all groups
        in one release: one user adds at most `max_contribution` trials in total, each
        with at most one hit, so the whole vector's L1 sensitivity is 2 * max_contribution.
        The value is {group: (noisy hits, noisy trials, rate in [0, 1])}."""
        if max_contribution < 1:
            raise InputError(f"{query}: max_contribution must be at least 1")
        for group, (hits, trials) in pairs.items():
            if not 0 <= hits <= trials:
                raise InputError(f"{query}: {group} has {hits} hits of {trials} trials")
        groups = list(pairs)
        exact = [n for g in groups for n in pairs[g]]
        noisy, scale = self._release(
            query, exact, 2.0 * max_contribution, epsilon, 0.0, "laplace", integer=True
        )
        value = {}
        for i, group in enumerate(groups):
            hits, trials = max(noisy[2 * i], 0), max(noisy[2 * i + 1], 0)
            value[group] = (hits, trials, min(hits / trials, 1.0) if trials else 0.0)
        return Release(query, value, epsilon, 0.0, "laplace", scale)
