"""A bandit over the agents that offer a capability: prefer better records, keep exploring.

Each (capability, agent) is an arm with a Beta posterior on its success rate (Thompson
sampling). An agent never tried at a capability is tried first (then it starts from an
optimistic prior), so a newcomer gets its chance instead of being starved by
incumbents with long good records; a few failures then bring it down to what it earns.
Choosing at a step whose result later steps build on (a search whose offer is then
booked with the same vendor), the agent's record at those later capabilities counts
too: a vendor whose bookings fail is not picked to search.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lamas.errors import InputError
from lamas.protocol.experience import ExperienceRecord


@dataclass(slots=True)
class Arm:
    successes: float = 0.0
    failures: float = 0.0

    @property
    def trials(self) -> float:
        return self.successes + self.failures


class ReplicaBandit:
    def __init__(
        self,
        *,
        seed: int | None = None,
        prior: tuple[float, float] = (2.0, 1.0),
        decay: float = 1.0,
    ) -> None:
        """`prior` is the (successes, failures) a new arm starts with (optimistic by
        default); `decay` < 1 discounts old outcomes so a degraded agent is noticed."""
        if not 0 < decay <= 1:
            raise InputError(f"decay must be in (0, 1], got {decay}")
        self.prior = prior
        self.decay = decay
        self.random = random.Random(seed)
        self.arms: dict[tuple[str, str], Arm] = {}

    def arm(self, capability: str, agent: str) -> Arm:
        return self.arms.setdefault((capability, agent), Arm())

    def update(self, capability: str, agent: str, ok: bool) -> None:
        arm = self.arm(capability, agent)
        arm.successes *= self.decay
        arm.failures *= self.decay
        if ok:
            arm.successes += 1
        else:
            arm.failures += 1

    def learn(self, records: Iterable[ExperienceRecord]) -> int:
        """Warm up from stored experience; returns how many records were used."""
        count = 0
        for record in sorted(records, key=lambda r: r.at):
            self.update(record.capability, record.agent, record.outcome.ok)
            count += 1
        return count

    def sample(self, capability: str, agent: str) -> float:
        arm = self.arm(capability, agent)
        return self.random.betavariate(self.prior[0] + arm.successes, self.prior[1] + arm.failures)

    def mean(self, capability: str, agent: str) -> float:
        arm = self.arm(capability, agent)
        a, b = self.prior[0] + arm.successes, self.prior[1] + arm.failures
        return a / (a + b)

    def choose(self, capability: str, agents: Sequence[str], *, later: Sequence[str] = ()) -> str:
        """One of `agents` for `capability`, by Thompson sampling; `later` capabilities are
        the ones the chosen agent will also serve for this task."""
        if not agents:
            raise InputError(f"no agents to choose from for {capability!r}")
        untried = [a for a in agents if self.arm(capability, a).trials == 0]
        if untried:
            return untried[0]
        best, best_score = agents[0], -1.0
        for agent in agents:
            score = self.sample(capability, agent)
            for then in later:
                score *= self.sample(then, agent)
            if score > best_score:
                best, best_score = agent, score
        return best
