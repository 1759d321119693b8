"""Making a `Node` from what a user names: an agent of a network file, or `MODULE:attr`.

`node_from_network(path, agent_id, keys, ...)` serves one agent of a network file: its
card and handler come from the file (handlers from `agents:FACTORY` beside it), and the
network's topology and access rules are enforced at the node, as in one process.
An agent without a handler in the file (the orchestrator, which is built over the
others) gets `handler=None`: the caller builds it over `node.network` once the node has
joined its peers (`orchestrate`).

`node_from_object("pkg.module:agent", keys, ...)` serves any lamas `Agent` (or a
zero-argument callable returning one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamas.agent.agent import Agent
from lamas.errors import ConfigError
from lamas.interop.keys import KeyFolder
from lamas.interop.node import Node, NodeLimits
from lamas.protocol.network import NetworkSpec
from lamas.protocol.types import Handler
from lamas.runtime.netfile import build, load_module_file, load_spec

if TYPE_CHECKING:
    from lamas.runtime.ledger_hook import LedgerRecorder
    from lamas.runtime.orchestrator import Orchestrator
    from lamas.runtime.recovery import Recovery


def node_from_network(
    path: str | Path,
    agent_id: str,
    keys: KeyFolder,
    *,
    registry: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    public: bool = False,
    limits: NodeLimits | None = None,
) -> tuple[NetworkSpec, Node, Handler | None]:
    """The node serving `agent_id` of the network file at `path`, and its handler."""
    spec = load_spec(path)
    by_id = {a.card.id: a for a in spec.agents}
    if agent_id not in by_id:
        raise ConfigError(f"{spec.name!r} has no agent {agent_id!r}; it has: {', '.join(by_id)}")
    own = by_id[agent_id]
    others = [a for a in by_id if a != agent_id]
    external = others if own.handler else list(by_id)
    # Only this agent's handler is built; the rest of the network are remote peers.
    local = build(spec, base_dir=Path(path).resolve().parent, external=external, defended=False)
    node = Node(
        own.card,
        keys,
        registry=registry,
        policy=local.transport.policy,
        host=host,
        port=port,
        public=public,
        entry=spec.topology.entry,
        limits=limits,
        platform=[spec.topology.hub] if spec.topology.hub else [],
    )
    handler = local.transport.handler(agent_id) if own.handler else None
    return spec, node, handler


def node_from_object(
    reference: str,
    keys: KeyFolder,
    *,
    registry: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    public: bool = False,
    limits: NodeLimits | None = None,
) -> tuple[Node, Handler]:
    """The node serving the `Agent` that `MODULE:attr` names (a `module.py` path works too)."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not attribute:
        raise ConfigError(f"name an agent as MODULE:ATTRIBUTE, got {reference!r}")
    try:
        if module_name.endswith(".py"):
            module = load_module_file(Path(module_name).resolve())
        else:
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot import {module_name!r}: {error}") from None
    found: Any = getattr(module, attribute, None)
    if found is not None and not isinstance(found, Agent) and callable(found):
        found = found()
    if not isinstance(found, Agent):
        raise ConfigError(f"{reference} is not a lamas Agent (nor a function returning one)")
    node = Node(
        found.card, keys, registry=registry, host=host, port=port, public=public, limits=limits
    )
    return node, found.handle


async def orchestrate(
    spec: NetworkSpec,
    node: Node,
    model: Any,
    embedder: Any,
    *,
    today: dt.date | None = None,
    ledger_url: str | None = None,
    join_timeout: float = 60.0,
    recovery: Recovery | None = None,
) -> tuple[Orchestrator, LedgerRecorder | None]:
    """Join every other agent of `spec`, then serve an `Orchestrator` over them as the
    node's agent, recording its tasks in the ledger at `ledger_url` if given (PostgreSQL
    in networked mode). Returns the orchestrator and its ledger recorder.

    With a `recovery` that has a task store, the tasks a previous run left unfinished
    are resumed once the node serves (`orchestrator.recovery.resuming` is that work),
    and new requests beyond its admission limits get 503 + Retry-After."""
    from lamas.runtime.orchestrator import Orchestrator

    await node.join([a.card.id for a in spec.agents], timeout=join_timeout)
    orchestrator = Orchestrator(
        node.network, model, embedder, agent_id=node.id, today=today, recovery=recovery
    )
    recorder = None
    if ledger_url is not None:
        from lamas.economy.ledger import platform_ledger
        from lamas.runtime.ledger_hook import LedgerRecorder

        recorder = LedgerRecorder(platform_ledger(ledger_url), orchestrator)
    serving = orchestrator.agent(node.card)
    await node.start(serving.handle, busy=orchestrator.recovery.admission.busy_for)
    orchestrator.recovery.resuming = asyncio.ensure_future(orchestrator.recovery.resume())
    return orchestrator, recorder
