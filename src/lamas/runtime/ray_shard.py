"""`Shard`: one Ray actor hosting many agents, and the setups that put agents in it.

A shard is a plain class here (no Ray import): `lamas.runtime.ray_runtime` turns it into
an async Ray actor. It owns a `RayTransport` whose `home` is its index; a `ShardSetup`
(any picklable callable) registers the agents the placement gives it, inside the shard's
own process, so handlers and their data never travel: only the setup does.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lamas.protocol.messages import Envelope, Message
from lamas.runtime.ray_transport import DEFAULT_BATCH, RayTransport
from lamas.runtime.sharding import Placement, RemoteError, unpack


class ShardSetup(Protocol):
    """Registers, on `transport`, the agents that `transport.placement` puts on its shard."""

    def __call__(self, transport: RayTransport) -> None: ...


class Shard:
    """The actor's methods: what other processes may ask of a shard."""

    def __init__(
        self,
        index: int,
        placement: Placement,
        setup: ShardSetup,
        max_batch: int = DEFAULT_BATCH,
    ) -> None:
        self.transport = RayTransport([], placement, home=index, max_batch=max_batch)
        setup(self.transport)
        self.batches_received = 0
        # The agents live as long as the shard: keep the collector from re-scanning tens of
        # thousands of them at every full collection (about 10% of a busy shard's CPU).
        gc.collect()
        gc.freeze()

    def connect(self, peers: Sequence[Any]) -> int:
        """Hand the shard every shard's actor handle (itself included), by index."""
        self.transport.peers = list(peers)
        return len(self.transport._boxes)

    async def deliver_posts(self, batch: bytes) -> list[tuple[int, RemoteError]]:
        """One-way envelopes (`sharding.pack`ed), queued here; the refused ones by index."""
        self.batches_received += 1
        return self.transport.accept_posts(unpack(batch))

    async def deliver_requests(
        self, batch: bytes, limits: list[float | None]
    ) -> list[Message | RemoteError]:
        """Requests (`sharding.pack`ed) with their time limits; every reply, in order."""
        self.batches_received += 1
        return await self.transport.accept_requests(unpack(batch), limits)

    async def publish(self, envelope: Envelope) -> int | RemoteError:
        return self.transport.accept_publish(envelope)

    async def subscribe(self, topic: str, agent_id: str) -> RemoteError | None:
        try:
            self.transport.subscribe(topic, agent_id)
        except Exception as error:
            return RemoteError.of(error)
        return None

    async def drain(self) -> None:
        """Wait until what this shard's agents sent so far has reached its shards."""
        await self.transport.drain()

    async def stats(self) -> dict[str, Any]:
        transport = self.transport
        return {
            "shard": transport.home,
            "pid": os.getpid(),
            "agents": len(transport._boxes),
            "batches_sent": transport.batches_sent,
            "envelopes_sent": transport.envelopes_sent,
            "batches_received": self.batches_received,
            "dead_letters": len(transport.dead_letters),
        }

    async def close(self) -> None:
        await self.transport.close()


@dataclass(frozen=True)
class NetworkFileSetup:
    """Builds a shard's part of a network file: its placed agents (replicas included),
    under the file's access policy, with the run's shared keys (from `seed`)."""

    path: str
    external: tuple[str, ...] = ()
    seed: bytes | None = None
    """None: the network runs without the default defences (`build(..., defended=False)`)."""

    def __call__(self, transport: RayTransport) -> None:
        from lamas.runtime.netfile import (
            access_policy,
            build_agents,
            load_spec,
            spec_defences,
        )

        spec = load_spec(self.path)
        transport.policy = access_policy(spec)
        defences = spec_defences(spec, seed=self.seed) if self.seed is not None else None
        if defences is not None:
            transport.signers = defences.signers()
        agents = build_agents(
            spec,
            base_dir=Path(self.path).resolve().parent,
            defences=defences,
            external=self.external,
            include=lambda agent_id: transport.placement(agent_id) == transport.home,
        )
        for agent in agents:
            transport.register(agent.id, agent.handle)
