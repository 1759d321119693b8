"""One network definition, any runtime: `open_network(path, runtime="local" | "ray")`.

Local builds the network in this process (`netfile.load`); Ray places its agents on
shard actors (`ray_runtime.ray_network`) and stops them when the block ends. Either
way the caller gets a `Network` and uses it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

from lamas.errors import ConfigError
from lamas.protocol.network import NetworkSpec
from lamas.runtime.network import Network

RuntimeName = Literal["local", "ray"]
RUNTIMES: tuple[str, ...] = get_args(RuntimeName)


@contextmanager
def open_network(
    path: str | Path,
    *,
    runtime: str = "local",
    external: Iterable[str] = (),
    address: str | None = None,
    shards: int = 2,
) -> Iterator[tuple[NetworkSpec, Network]]:
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

    spec, network, ray_runtime = ray_network(
        path, external=external, shards=shards, address=address
    )
    try:
        yield spec, network
    finally:
        ray_runtime.stop()
