"""Making a `Node` from what a user names: an agent of a network file, or `MODULE:attr`.

`node_from_network(path, agent_id, keys, **listen)` serves one agent of a network file: its
card and handler come from the file (handlers from `agents:FACTORY` beside it), and the
network's topology and access rules are enforced at the node, as in one process.
An agent without a handler in the file (the orchestrator, which is built over the
others) gets `handler=None`: the caller builds it over `node.network` once the node has
joined its peers (`orchestrate`).

`node_from_object("pkg.module:agent", keys, **listen)` serves any lamas `Agent` (or a
zero-argument callable returning one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from lamas.agent.agent import Agent
from lamas.errors import ConfigError
from lamas.interop.keys import KeyFolder
from lamas.interop.node import Node, NodeLimits
from lamas.protocol.network import NetworkSpec
from lamas.protocol.types import Handler
from lamas.runtime.netfile import build, load_module_file, load_spec

if TYPE_CHECKING:
    from lamas.runtime.books import Books
    from lamas.runtime.orchestrator import Orchestrator
    from lamas.runtime.recovery import Recovery


class Listen(TypedDict, total=False):
    """Where a node listens and whom it lets in: what `lamas serve` gives any node it
    makes, from a network file or from `MODULE:attr` (unset: `Node`'s defaults)."""

    registry: str | None
    host: str
    port: int
    public: bool
    grpc_port: int | None
    limits: NodeLimits | None


def node_from_network(
    path: str | Path, agent_id: str, keys: KeyFolder, **listen: Unpack[Listen]
) -> tuple[NetworkSpec, Node, Handler | None]:
    """The node serving `agent_id` of the network file at `path`, and its handler."""
    from lamas.protocol.ids import UnknownId, match_prefix

    spec = load_spec(path)
    by_id = {a.card.id: a for a in spec.agents}
    try:
        agent_id = match_prefix(agent_id, by_id, "agent")
    except UnknownId:
        raise ConfigError(
            f"{spec.name!r} has no agent {agent_id!r}; it has: {', '.join(by_id)}"
        ) from None
    own = by_id[agent_id]
    others = [a for a in by_id if a != agent_id]
    external = others if own.handler else list(by_id)
    # Only this agent's handler is built; the rest of the network are remote peers.
    local = build(spec, base_dir=Path(path).resolve().parent, external=external, defended=False)
    node = Node(
        own.card,
        keys,
        policy=local.transport.policy,
        entry=spec.topology.entry,
        platform=[spec.topology.hub] if spec.topology.hub else [],
        **listen,
    )
    handler = local.transport.handler(agent_id) if own.handler else None
    return spec, node, handler


def node_from_object(
    reference: str, keys: KeyFolder, **listen: Unpack[Listen]
) -> tuple[Node, Handler]:
    """The node serving the `Agent` that `MODULE:attr` names (a `module.py` path works too)."""
    found = agent_from_reference(reference)
    return Node(found.card, keys, **listen), found.handle


def agent_from_reference(reference: str) -> Agent:
    """The `Agent` that `MODULE:attr` or `path/to/file.py:attr` names (or that a
    zero-argument function there returns)."""
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
    return found


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
) -> tuple[Orchestrator, Books]:
    """Join every other agent of `spec`, then serve an `Orchestrator` over them as the
    node's agent, its tasks settled in the ledger at `ledger_url` (default: the configured
    database; PostgreSQL in networked mode). Returns the orchestrator and its books.

    With a `recovery` that has a task store, the tasks a previous run left unfinished
    are resumed once the node serves (`orchestrator.recovery.resuming` is that work),
    and new requests beyond its admission limits get 503 + Retry-After."""
    from lamas.runtime.books import Books
    from lamas.runtime.orchestrator import Orchestrator
    from lamas.runtime.today import stamp_today

    await node.join([a.card.id for a in spec.agents], timeout=join_timeout)
    orchestrator = Orchestrator(
        node.network,
        model,
        embedder,
        agent_id=node.id,
        today=today,
        recovery=recovery,
        # the agents check dates against the same today (lamas.runtime.today)
        middleware=[stamp_today(today)] if today else (),
    )
    books = Books(orchestrator, url=ledger_url)
    if node.registry is not None and orchestrator.recovery.provider_wait is None:
        # Its agents come and go with the registry's health checks and restarts: a step
        # whose only providers are away waits for them while the task's budget lasts
        # (`Recovery.providers`).
        orchestrator.recovery.provider_wait = orchestrator.recovery.task_budget
    serving = orchestrator.agent(node.card)
    durable_a2a_tasks(node, orchestrator.recovery)
    await node.start(serving.handle, busy=orchestrator.recovery.admission.busy_for)
    orchestrator.recovery.resuming = asyncio.ensure_future(orchestrator.recovery.resume())
    orchestrator.recovery.undoing = asyncio.ensure_future(orchestrator.recovery.keep_undoing())
    return orchestrator, books


async def serve_network(
    path: str | Path,
    keys: KeyFolder,
    model: Any,
    embedder: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    public: bool = False,
    today: dt.date | None = None,
    ledger_url: str | None = None,
    recovery: Recovery | None = None,
) -> tuple[Node, Orchestrator, Books]:
    """A whole network file as one A2A service: its agents in this process, its
    orchestrator (the agent without a handler) served in front, every task settled in the
    ledger at `ledger_url` (default: the configured database)."""
    from lamas.runtime.books import Books
    from lamas.runtime.netfile import load
    from lamas.runtime.orchestrator import Orchestrator

    spec = load_spec(path)
    front = [a.card for a in spec.agents if a.handler is None]
    if len(front) != 1:
        raise ConfigError(
            f"{spec.name!r} has {len(front)} agents without a handler; serving a whole network "
            "needs exactly one (its orchestrator): serve one agent with --agent instead"
        )
    card = front[0]
    _, network = load(path, external=[card.id])
    orchestrator = Orchestrator(
        network, model, embedder, agent_id=card.id, today=today, recovery=recovery
    )
    orchestrator.join(card)
    books = Books(orchestrator, url=ledger_url)
    node = Node(card, keys, host=host, port=port, public=public, entry=spec.topology.entry)
    durable_a2a_tasks(node, orchestrator.recovery)
    await node.start(
        orchestrator.agent(node.card).handle, busy=orchestrator.recovery.admission.busy_for
    )
    orchestrator.recovery.resuming = asyncio.ensure_future(orchestrator.recovery.resume())
    orchestrator.recovery.undoing = asyncio.ensure_future(orchestrator.recovery.keep_undoing())
    return node, orchestrator, books


def durable_a2a_tasks(node: Node, recovery: Recovery) -> None:
    """An orchestrator whose task state outlives it keeps the A2A tasks that wait for an
    answer in that database too (a SQLite file: the file beside it, `<name>-a2a.db`),
    the rest in memory, unless its node was given a store of its own: a user answering,
    after a restart, a question asked before it finds the A2A task the answer continues;
    in memory alone, the restarted node would not know it."""
    from lamas.interop.taskstore import questions_kept, sibling_url

    if recovery.store is not None and node.limits.task_store is None:
        url = sibling_url(recovery.store.url, "a2a")
        node.tasks = questions_kept(url, node.limits.retention)
