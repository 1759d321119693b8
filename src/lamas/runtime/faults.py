"""Fault injection: make one agent fail a share of its calls to a skill, reproducibly.

For benchmarks and tests of learning and resilience ("one rail vendor fails half of its
bookings"): the transport's access policy, asked before every delivery, is wrapped so
that a seeded coin refuses that share of the agent's calls to the skill with a
`DeliveryError`, as an outage would. Nothing else about the network changes (its
agents, their order, their defences).
"""

from __future__ import annotations

import random

from lamas.errors import DeliveryError, InputError
from lamas.protocol.messages import Envelope
from lamas.runtime.network import Network
from lamas.runtime.transport import AccessPolicy


class FaultCounter:
    def __init__(self) -> None:
        self.calls = 0
        self.failed = 0


class FaultPolicy:
    """Refuses `rate` of the deliveries of `skill` to `agent_id`, then asks `inner`."""

    def __init__(
        self,
        agent_id: str,
        skill: str,
        rate: float,
        *,
        seed: int = 0,
        inner: AccessPolicy | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.skill = skill
        self.rate = rate
        self.inner = inner
        self.counter = FaultCounter()
        self._coin = random.Random(seed)

    def check(self, envelope: Envelope) -> None:
        if envelope.recipient == self.agent_id and envelope.skill == self.skill:
            self.counter.calls += 1
            if self._coin.random() < self.rate:
                self.counter.failed += 1
                raise DeliveryError(
                    f"{self.agent_id}: {self.skill} is unavailable (injected fault)"
                )
        if self.inner is not None:
            self.inner.check(envelope)


def inject_faults(
    network: Network, agent_id: str, skill: str, rate: float, *, seed: int = 0
) -> FaultCounter:
    """From now on, `agent_id` fails `rate` of its `skill` calls; returns the tally."""
    if not 0 <= rate <= 1:
        raise InputError(f"a fault rate is a share of calls, in [0, 1]; got {rate}")
    card = network.card(agent_id)
    if card.skill(skill) is None:
        raise InputError(f"{agent_id!r} offers no skill {skill!r} to inject faults into")
    transport = network.transport
    policy = FaultPolicy(agent_id, skill, rate, seed=seed, inner=transport.policy)
    transport.policy = policy
    return policy.counter
