"""Revenue sharing: from a task's business value to each entity's payout.

The platform takes its fee first; the rest is split by the agents' credit shares
(Shapley, from `lamas.protocol.credit`), each weighted by the agent's quality
score; money is rounded to the cent so that the payouts add up exactly to the
value (the largest-remainder method: no cent is created or lost).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from lamas.errors import InputError

CENT = Decimal("0.01")
PLATFORM = "platform"


@dataclass(frozen=True, slots=True)
class Quality:
    """An agent's quality score from its record: a success rate shrunk towards a prior.

    With `prior_weight` pseudo-tasks at `prior` success, a new agent starts at the prior
    and volume alone cannot push the score: a thousand easy successes move it no further
    than their rate. User feedback (ratings in [0, 1]) counts like outcomes. The score is
    then bounded to [`floor`, 1] so no agent's share is wiped out by a bad start.
    """

    successes: int = 0
    failures: int = 0
    feedback: tuple[float, ...] = ()
    prior: float = 0.8
    prior_weight: float = 10.0
    floor: float = 0.5

    @property
    def score(self) -> float:
        if any(not 0.0 <= r <= 1.0 for r in self.feedback):
            raise InputError("feedback ratings must be in [0, 1]")
        good = self.successes + sum(self.feedback) + self.prior * self.prior_weight
        seen = self.successes + self.failures + len(self.feedback) + self.prior_weight
        return max(self.floor, min(1.0, good / seen))


@dataclass(frozen=True, slots=True)
class Split:
    """Who gets what of one task's value."""

    value: Decimal
    platform_fee: Decimal
    by_agent: dict[str, Decimal]
    by_entity: dict[str, Decimal]
    weights: dict[str, float]


def split_revenue(
    value: Decimal,
    shares: Mapping[str, float],
    *,
    owners: Mapping[str, str],
    fee_rate: Decimal = Decimal("0.20"),
    quality: Mapping[str, float] | None = None,
) -> Split:
    """Split `value`: the fee to the platform, the rest by `shares` x quality, to the cent.

    `shares` are credit shares (any non-negative numbers; they are normalised); `owners`
    maps each agent to its entity; agents without a quality score weigh 1.
    """
    if value < 0:
        raise InputError(f"a task's value cannot be negative, got {value}")
    if not Decimal(0) <= fee_rate <= Decimal(1):
        raise InputError(f"the platform fee rate must be in [0, 1], got {fee_rate}")
    unknown = sorted(set(shares) - set(owners))
    if unknown:
        raise InputError(f"no owning entity known for agents: {', '.join(unknown)}")
    if any(s < 0 for s in shares.values()):
        raise InputError("credit shares cannot be negative")
    scores = quality or {}
    weights = {agent: shares[agent] * scores.get(agent, 1.0) for agent in shares}
    total_weight = sum(weights.values())
    fee = (value * fee_rate).quantize(CENT, rounding=ROUND_FLOOR)
    pool = value.quantize(CENT, rounding=ROUND_FLOOR) - fee
    if total_weight <= 0:
        by_agent = dict.fromkeys(shares, Decimal(0))
        fee += pool  # nobody earned it: it stays with the platform
    else:
        by_agent = _largest_remainder(pool, {a: w / total_weight for a, w in weights.items()})
    by_entity: dict[str, Decimal] = {PLATFORM: fee} if fee else {}
    for agent, amount in by_agent.items():
        entity = owners[agent]
        by_entity[entity] = by_entity.get(entity, Decimal(0)) + amount
    return Split(value, fee, by_agent, by_entity, weights)


def _largest_remainder(pool: Decimal, fractions: Mapping[str, float]) -> dict[str, Decimal]:
    """Cents of `pool` by `fractions` (summing to 1), adding up exactly to `pool`."""
    cents = int(pool / CENT)
    exact = {agent: cents * fraction for agent, fraction in fractions.items()}
    floors = {agent: int(amount) for agent, amount in exact.items()}
    left = cents - sum(floors.values())
    # Ties go to the agent listed first, so the split is deterministic.
    order = sorted(exact, key=lambda a: -(exact[a] - floors[a]))
    for agent in order[:left]:
        floors[agent] += 1
    return {agent: Decimal(floors[agent]) * CENT for agent in fractions}
