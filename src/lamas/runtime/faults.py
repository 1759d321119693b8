"""Fault injection: make one agent fail a share of its calls to a skill, reproducibly.

For benchmarks and tests of learning and resilience ("one rail vendor fails half of its
bookings"): the agent's registered handler, defences included, is wrapped so that a
seeded coin decides which calls fail with a `DeliveryError` before reaching it.
"""

from __future__ import annotations

import random

from lamas.agent.agent import Agent
from lamas.errors import DeliveryError, InputError
from lamas.protocol.messages import Envelope
from lamas.protocol.types import Context, Handler, Reply
from lamas.runtime.network import Network


class FaultCounter:
    def __init__(self) -> None:
        self.calls = 0
        self.failed = 0


def inject_faults(
    network: Network, agent_id: str, skill: str, rate: float, *, seed: int = 0
) -> FaultCounter:
    """From now on, `agent_id` fails `rate` of its `skill` calls; returns the tally."""
    if not 0 <= rate <= 1:
        raise InputError(f"a fault rate is a share of calls, in [0, 1]; got {rate}")
    card = network.card(agent_id)
    if card.skill(skill) is None:
        raise InputError(f"{agent_id!r} offers no skill {skill!r} to inject faults into")
    inner: Handler = network.transport.handler(agent_id)
    coin = random.Random(seed)
    counter = FaultCounter()

    async def faulty(envelope: Envelope, context: Context) -> Reply:
        if envelope.skill == skill:
            counter.calls += 1
            if coin.random() < rate:
                counter.failed += 1
                raise DeliveryError(f"{agent_id}: {skill} is unavailable (injected fault)")
        return await inner(envelope, context)

    network.remove(agent_id)
    network.add(Agent(card, faulty))
    return counter
