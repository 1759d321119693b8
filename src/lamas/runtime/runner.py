"""One network definition, any runtime: `open_network(path, runtime="local" | "ray")`.

Local builds the network in this process (`netfile.load`); Ray places its agents on
shard actors (`ray_runtime.ray_network`) and, when the block ends, lets what is still
on its way arrive and stops them. Either
way the caller gets a `Network` and uses it the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal, get_args

from lamas.errors import ConfigError
from lamas.protocol.network import NetworkSpec
from lamas.runtime.network import Network

RuntimeName = Literal["local", "ray"]
RUNTIMES: tuple[str, ...] = get_args(RuntimeName)


DRAIN_SECONDS = 10.0
"""At the end of a Ray run, how long envelopes still on their way may take to arrive."""


@asynccontextmanager
async def open_network(
    path: str | Path,
    *,
    runtime: str = "local",
    external: Iterable[str] = (),
    address: str | None = None,
    shards: int = 2,
) -> AsyncIterator[tuple[NetworkSpec, Network]]:
    """The network of a file on `runtime`; `address` (Ray only) joins a running cluster."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"no runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if runtime == "local":
        if address is not None:
            raise ConfigError("--address names a Ray cluster; use it with --runtime ray")
        from lamas.runtime.netfile import load

        yield load(path, external=external)
        return
    from lamas.runtime.ray_runtime import ray_network
    from lamas.runtime.ray_transport import RayTransport

    spec, network, ray_runtime = ray_network(
        path, external=external, shards=shards, address=address
    )
    try:
        yield spec, network
        # One-way envelopes sent last (a log record, say) are still to leave: let them.
        transport = network.transport
        if isinstance(transport, RayTransport):
            await asyncio.wait_for(transport.drain(), DRAIN_SECONDS)
    finally:
        ray_runtime.stop()
