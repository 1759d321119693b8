"""Running agents on Ray: a session, its shard actors, and a network file placed on them.

`RayRuntime.start` joins a Ray cluster (`address`, as `ray start --head` prints it) or
starts a small local one (2 CPUs, a few hundred MB of object store, no dashboard), then
starts `shards` shard actors, each building its own agents with the given setup.
`ray_network` does this for a network file and returns a `Network` in this process
that knows every agent by its card and reaches them through a `RayTransport`; code
that takes a `Network` (the orchestrator, consensus, the CLI) runs on it unchanged.

Ray is an optional dependency (`pip install lamas[ray]`); it is imported only here,
and only when a runtime starts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamas.errors import ConfigError
from lamas.protocol.network import NetworkSpec
from lamas.runtime.network import Network
from lamas.runtime.ray_shard import NetworkFileSetup, Shard, ShardSetup
from lamas.runtime.ray_transport import DEFAULT_BATCH, RayTransport
from lamas.runtime.sharding import Placement
from lamas.runtime.transport import AccessPolicy

log = logging.getLogger(__name__)

DEFAULT_SHARDS = 2
LOCAL_OBJECT_STORE_MB = 256
"""A local session's object store: batches are small (a few MB), so a small store saves
memory on a small machine; Ray's default is 30% of RAM."""
LOCAL_CPUS = 2


@dataclass
class RayRuntime:
    """Shard actors on a Ray session; `transport()` gives this process's way in."""

    shards: list[Any]
    placement: Placement
    agents: list[int] = field(default_factory=list)
    """How many agents each shard built, by shard index."""
    owns_session: bool = False
    max_batch: int = DEFAULT_BATCH
    transports: list[RayTransport] = field(default_factory=list)
    """The transports handed out by `transport()`: detached from the shards on `stop()`."""

    @classmethod
    def start(
        cls,
        setup: ShardSetup,
        *,
        shards: int = DEFAULT_SHARDS,
        address: str | None = None,
        pinned: Mapping[str, int] | None = None,
        max_batch: int = DEFAULT_BATCH,
        object_store_mb: int = LOCAL_OBJECT_STORE_MB,
        num_cpus: int = LOCAL_CPUS,
    ) -> RayRuntime:
        ray = _ray()
        placement = Placement(shards, pinned or {})
        owns = connect(address, object_store_mb=object_store_mb, num_cpus=num_cpus)
        # No CPU reserved per shard: a shard is mostly waiting, and a 2-CPU machine must
        # still fit two of them beside the driver. SPREAD puts them on different nodes.
        actor = ray.remote(Shard).options(num_cpus=0, scheduling_strategy="SPREAD")
        handles = [actor.remote(i, placement, setup, max_batch) for i in range(shards)]
        try:
            counts = ray.get([h.connect.remote(handles) for h in handles])
        except ray.exceptions.RayError as error:
            for handle in handles:
                ray.kill(handle)
            if owns:
                ray.shutdown()
            raise ConfigError(
                f"a shard could not build its agents: {_cause(error)}; "
                "fix the network definition (it runs in the shard processes)"
            ) from None
        return cls(handles, placement, counts, owns, max_batch)

    def transport(
        self, *, policy: AccessPolicy | None = None, directory: Iterable[str] | None = None
    ) -> RayTransport:
        """A transport for this process (the driver), reaching every shard."""
        transport = RayTransport(
            self.shards,
            self.placement,
            policy=policy,
            max_batch=self.max_batch,
            directory=set(directory) if directory is not None else None,
        )
        self.transports.append(transport)
        return transport

    async def stats(self) -> list[dict[str, Any]]:
        """Each shard's process id, agent count and batch counters."""
        import asyncio

        return list(await asyncio.gather(*(s.stats.remote() for s in self.shards)))

    def stop(self) -> None:
        """Stop the shards; end the Ray session too if this runtime started it. One-way
        envelopes a shard could not deliver are logged here before it goes."""
        ray = _ray()
        try:
            stats = ray.get([s.stats.remote() for s in self.shards], timeout=10)
        except ray.exceptions.RayError as error:
            log.warning("could not read the shards' counters before stopping: %s", error)
            stats = []
        for shard in stats:
            if shard["dead_letters"]:
                log.warning(
                    "shard %s (pid %s) kept %s undeliverable one-way envelopes",
                    shard["shard"],
                    shard["pid"],
                    shard["dead_letters"],
                )
        for transport in self.transports:
            transport.detach()
        for handle in self.shards:
            ray.kill(handle)
        self.shards = []
        if self.owns_session:
            ray.shutdown()


STARTUP_ATTEMPTS = 2
"""Tries at starting a local Ray node (Ray gives each 30 s to register)."""


def connect(
    address: str | None = None,
    *,
    object_store_mb: int = LOCAL_OBJECT_STORE_MB,
    num_cpus: int = LOCAL_CPUS,
) -> bool:
    """Join the Ray cluster at `address`, or start a local one; True if this call started
    the session (and so should end it). An existing session in this process is reused."""
    ray = _ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": "WARNING",
        "configure_logging": True,
    }
    if address is None:
        options.update(num_cpus=num_cpus, object_store_memory=object_store_mb * 1024 * 1024)
    # The agents' factories read their model from $LAMAS_MODEL (`--model`): the shards too.
    from lamas.llm.spec import MODEL_ENV

    if os.environ.get(MODEL_ENV):
        options["runtime_env"] = {"env_vars": {MODEL_ENV: os.environ[MODEL_ENV]}}
    try:
        # "local": a new session of our own, even when `ray start` left one running here
        # (without it, ray.init() would join that one instead).
        for attempt in range(STARTUP_ATTEMPTS):
            try:
                ray.init(address=address or "local", **options)
                break
            except Exception as error:  # Ray raises a bare Exception for this one
                # A busy machine can take longer than Ray's fixed timeouts to start a new
                # local node (its GCS port file, its raylet's registration): start it once
                # more before giving up.
                if "timed out" not in str(error).casefold() or attempt + 1 == STARTUP_ATTEMPTS:
                    raise
                ray.shutdown()
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray session"
        raise ConfigError(
            f"cannot start or join {where}: {error}; "
            "for a cluster, run `ray start --head` and pass the address it prints; a cluster "
            "with token authentication (Ray's default) also needs RAY_AUTH_MODE=token here "
            "and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
        ) from None
    return True


def ray_network(
    path: str | Path,
    *,
    external: Iterable[str] = (),
    shards: int = DEFAULT_SHARDS,
    address: str | None = None,
    defended: bool = True,
    max_batch: int = DEFAULT_BATCH,
) -> tuple[NetworkSpec, Network, RayRuntime]:
    """The network of a file, its agents placed on `shards` Ray shard actors.

    Like `netfile.load`: agents named in `external` are left for the caller to add to
    the returned network, in this process. Keys are derived from a seed made for this
    run and handed to the shards, so every process signs and verifies alike.
    """
    from lamas.runtime.netfile import (
        access_policy,
        check_external,
        load_spec,
        spec_cards,
        spec_defences,
    )

    file = Path(path).resolve()
    spec = load_spec(file)
    left_out = check_external(spec, external)
    missing = [a.card.id for a in spec.agents if a.handler is None and a.card.id not in left_out]
    if missing:
        raise ConfigError(
            f"agents {', '.join(missing)} of {spec.name!r} name no handler; "
            "give them one or leave them out as external"
        )
    seed = os.urandom(32) if defended else None
    setup = NetworkFileSetup(str(file), tuple(sorted(left_out)), seed)
    runtime = RayRuntime.start(setup, shards=shards, address=address, max_batch=max_batch)
    placed = [card for agent_spec, card in spec_cards(spec) if agent_spec.card.id not in left_out]
    transport = runtime.transport(
        policy=access_policy(spec), directory=(card.id for card in placed)
    )
    network = Network(transport=transport)
    if seed is not None:
        network.defences = spec_defences(spec, seed=seed)
        transport.signers = network.defences.signers()
    for card in placed:
        signed = network.defences.signed_card(card) if network.defences else card
        network.add_remote(signed)
    return spec, network, runtime


def _ray() -> Any:
    from lamas._extras import need

    need("ray", "ray", "the Ray runtime")
    import ray

    return ray


def _cause(error: BaseException) -> str:
    cause = getattr(error, "cause", None)
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error)
