"""`lamas serve`, `lamas registry`, `lamas keys`: the networked mode (one A2A service per
agent, a registry where they find each other)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer
from rich.console import Console
from rich.markup import escape

from lamas.errors import ConfigError, LamasError
from lamas.interop.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_TASKS,
    DEFAULT_TTL_SECONDS,
)
from lamas.llm.spec import FORMS, MODEL_ENV, model_from_env
from lamas.runtime.defences import DEFAULT_RATE
from lamas.security.detector import MAX_TEXT_CHARS

if TYPE_CHECKING:
    from lamas.interop.keys import KeyFolder
    from lamas.interop.node import NodeLimits
    from lamas.protocol.cards import AgentCard
    from lamas.runtime.books import Books
    from lamas.runtime.session import Event

err = Console(stderr=True)
out = Console()

LIMITS = "What a node accepts"
A2A_TASKS = "A2A task records (any node)"
ORCHESTRATOR = "Orchestrator only"

KeysOption = Annotated[
    Path,
    typer.Option(
        "--keys",
        help="key folder: agents/<id>.key, entities/<entity>.key|.pub (`lamas keys` makes one)",
    ),
]
DevKeysOption = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        help="key folder: agents/<id>.key, entities/<entity>.key|.pub (`lamas keys` makes "
        "one); default: development keys made and kept under $LAMAS_HOME/keys/dev",
    ),
]


def serve(
    target: Annotated[
        str,
        typer.Argument(
            help="a network file (all of it behind its orchestrator, or one agent with "
            "--agent), or MODULE:ATTRIBUTE / path/to/file.py:ATTRIBUTE naming an Agent"
        ),
    ],
    keys: DevKeysOption = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="the agent of the network file to serve")
    ] = None,
    port: Annotated[int, typer.Option(help="port to listen on (0: any free port)")] = 0,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    registry: Annotated[
        str | None, typer.Option(help="registry URL to publish to and find peers in")
    ] = None,
    grpc_port: Annotated[
        int, typer.Option(help="port of the gRPC binding (0: any free port; -1: no gRPC)")
    ] = 0,
    public: Annotated[
        bool,
        typer.Option(help="accept plain, unsigned A2A requests as the network's user"),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            help=f"the model of everything served (default: $LAMAS_MODEL, else the demo "
            f"model): {FORMS}"
        ),
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            help="ledger database URL (default: $LAMAS_DATABASE_URL, else the local file)",
            rich_help_panel=ORCHESTRATOR,
        ),
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(help="pin today's date (YYYY-MM-DD)", rich_help_panel=ORCHESTRATOR),
    ] = None,
    max_body_bytes: Annotated[
        int,
        typer.Option(
            min=1024, help="largest request body accepted (HTTP 413 beyond)", rich_help_panel=LIMITS
        ),
    ] = DEFAULT_MAX_BODY_BYTES,
    max_text_chars: Annotated[
        int,
        typer.Option(
            min=1, help="most text one request may carry to be screened", rich_help_panel=LIMITS
        ),
    ] = MAX_TEXT_CHARS,
    caller_rate: Annotated[
        tuple[float, float],
        typer.Option(
            help="each caller's rate bucket: calls a second, then burst", rich_help_panel=LIMITS
        ),
    ] = DEFAULT_RATE,
    a2a_tasks: Annotated[
        str | None,
        typer.Option(
            "--a2a-tasks",
            help="database of this node's A2A task records, what GetTask answers "
            "(sqlite:///a2a.db, postgresql://...); default: in memory (an orchestrator "
            "also keeps its open questions beside its --task-state database)",
            rich_help_panel=A2A_TASKS,
        ),
    ] = None,
    task_ttl: Annotated[
        float,
        typer.Option(
            min=1,
            help="seconds an A2A task record is kept after its last update",
            rich_help_panel=A2A_TASKS,
        ),
    ] = DEFAULT_TTL_SECONDS,
    max_tasks: Annotated[
        int,
        typer.Option(
            min=1,
            help="most A2A task records kept; as many may wait for an answer at once, "
            "beyond that new tasks are refused as busy",
            rich_help_panel=A2A_TASKS,
        ),
    ] = DEFAULT_MAX_TASKS,
    max_task_bytes: Annotated[
        int,
        typer.Option(
            min=1,
            help="most bytes of A2A task records kept, all together",
            rich_help_panel=A2A_TASKS,
        ),
    ] = DEFAULT_MAX_BYTES,
    task_state: Annotated[
        str | None,
        typer.Option(
            "--task-state",
            help="database of the orchestrator's durable task state (plan, step results, "
            "questions), resumed after a restart (default: $LAMAS_DATABASE_URL, else a "
            "SQLite file in LAMAS_HOME)",
            rich_help_panel=ORCHESTRATOR,
        ),
    ] = None,
    max_active: Annotated[
        int, typer.Option(min=1, help="tasks run at once", rich_help_panel=ORCHESTRATOR)
    ] = 64,
    max_waiting: Annotated[
        int,
        typer.Option(
            min=0,
            help="tasks queued for a turn; beyond, 503 + Retry-After",
            rich_help_panel=ORCHESTRATOR,
        ),
    ] = 2048,
    provider_wait: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="seconds a step waits for an agent offering its capability to be back "
            "(restarted, or listed again by the registry) before it fails (default: the "
            "task's retry budget, 300 s)",
            rich_help_panel=ORCHESTRATOR,
        ),
    ] = None,
    old_task_store: Annotated[
        str | None, typer.Option("--task-store", hidden=True, help="old name of --a2a-tasks")
    ] = None,
    old_tasks: Annotated[
        str | None, typer.Option("--tasks", hidden=True, help="old name of --task-state")
    ] = None,
) -> None:
    """Serve one agent over A2A (JSON-RPC and HTTP+JSON with SSE at its URL, gRPC on its own
    port), its card at /.well-known/agent-card.json listing each.

    Every A2A method of every binding is guarded: callers prove who they are
    (docs/security.md)."""
    from lamas.interop.node import NodeLimits
    from lamas.interop.taskstore import Retention

    _log_setup()
    try:
        limits = Limits(
            renamed("--task-state", task_state, "--tasks", old_tasks),
            max_active,
            max_waiting,
            provider_wait,
        )
        node_limits = NodeLimits(
            max_body_bytes=max_body_bytes,
            max_text_chars=max_text_chars,
            caller_rate=caller_rate,
            retention=Retention(task_ttl, max_tasks, max_task_bytes),
            task_store=renamed("--a2a-tasks", a2a_tasks, "--task-store", old_task_store),
        )
        asyncio.run(
            _serve(
                target,
                keys,
                agent,
                port,
                host,
                registry,
                public,
                model,
                ledger,
                today,
                limits,
                node_limits,
                grpc_port=None if grpc_port < 0 else grpc_port,
            )
        )
    except LamasError as error:
        err.print(f"[bold red]error:[/] {escape(str(error))}")
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        pass
    except Exception as error:  # a database that cannot be used: in words, not its SQL
        from lamas.store.errors import describe, is_database_error

        if not is_database_error(error):
            raise
        err.print(f"[bold red]error:[/] {escape(describe(error, 'the database'))}")
        raise typer.Exit(code=2) from None


async def _serve(
    target: str,
    keys: Path | None,
    agent: str | None,
    port: int,
    host: str,
    registry: str | None,
    public: bool,
    model: str | None,
    ledger: str | None,
    today: str | None,
    limits: Limits,
    node_limits: NodeLimits,
    *,
    grpc_port: int | None = 0,
) -> None:
    from lamas.cli.run import default_embedder
    from lamas.interop.launch import (
        Listen,
        node_from_network,
        node_from_object,
        orchestrate,
        serve_network,
    )

    model = choose_model(model)
    day = dt.date.fromisoformat(today) if today else None
    folder = _key_folder(keys, target)
    listen = Listen(
        registry=registry,
        host=host,
        port=port,
        public=public,
        grpc_port=grpc_port,
        limits=node_limits,
    )
    if is_network_file(target) and agent is None:
        node, _, books = await serve_network(
            target,
            folder,
            model_from_env(model),
            default_embedder(err),
            host=host,
            port=port,
            public=public,
            today=day,
            ledger_url=ledger,
            recovery=limits.recovery(_front(target)),
        )
        announce(books)
    elif is_network_file(target):
        assert agent is not None
        spec, node, handler = node_from_network(target, agent, folder, **listen)
        if handler is None:
            _, books = await orchestrate(
                spec,
                node,
                model_from_env(model),
                default_embedder(err),
                today=day,
                ledger_url=ledger,
                recovery=limits.recovery(node.id),
            )
            announce(books)
        else:
            await node.start(handler)
    else:
        node, handler = node_from_object(target, folder, **listen)
        await node.start(handler)
    grpc = f" (gRPC at {node.grpc.target})" if node.grpc else ""
    out.print(f"{node.id} serving A2A at {node.url}{grpc}", highlight=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        door = "public: anyone may open tasks" if public else "only registered agents"
        out.print(
            f"listening on {host} ({door}); put TLS in front of it (docs/security.md)",
            highlight=False,
        )
    try:
        await asyncio.Event().wait()
    finally:
        await node.close()


def renamed(name: str, value: str | None, old_name: str, old_value: str | None) -> str | None:
    """An option given by its name or its old one (still accepted, hidden from --help)."""
    if value is not None and old_value is not None and value != old_value:
        raise ConfigError(f"{old_name} is the old name of {name}: give one of them, not both")
    return value if value is not None else old_value


def choose_model(model: str | None) -> str:
    """`--model`, else `$LAMAS_MODEL`, else the demo model; exported as `$LAMAS_MODEL`, which
    the agents' own factories read (`lamas.model_from_env`)."""
    from lamas.llm.catalog import DEFAULT_DEMO_MODEL

    chosen = model or os.environ.get(MODEL_ENV) or DEFAULT_DEMO_MODEL
    os.environ[MODEL_ENV] = chosen
    return chosen


def announce(books: Books) -> None:
    """Say where tasks settle, and print each task's id and settlement as it ends."""
    url = books.ledger.engine.url.render_as_string(hide_password=True)
    out.print(f"tasks settle in the ledger at {url}", highlight=False)

    def ended(event: Event) -> None:
        if event.kind in ("done", "failed"):
            out.print(f"task {event.task_id} {event.kind}", highlight=False)
            out.print(books.receipt(event.task_id), highlight=False)

    books.recorder.orchestrator.listeners.append(ended)


def _key_folder(keys: Path | None, target: str) -> KeyFolder:
    """`keys`, or the development folder under $LAMAS_HOME with keys for `target` made
    in it now if missing (and said where)."""
    from lamas.interop.keys import KeyFolder, dev_keys

    if keys is not None:
        return KeyFolder(keys)
    cards, callers = cards_of(target)
    folder, made = dev_keys(cards, callers=callers)
    what = f"made {made} new" if made else "kept the"
    err.print(
        f"[dim]development keys: {what} keys in {folder.path} (for production, make them "
        "with `lamas keys` and pass --keys)[/]",
        highlight=False,
    )
    return folder


def _front(target: str) -> str:
    """The id of a network file's orchestrator (its agent without a handler)."""
    from lamas.runtime.netfile import load_spec

    front = [a.card.id for a in load_spec(target).agents if a.handler is None]
    return front[0] if front else "orchestrator"


def is_network_file(target: str) -> bool:
    return target.endswith((".yaml", ".yml", ".json"))


def cards_of(target: str) -> tuple[list[AgentCard], list[str]]:
    """The cards a network file or an agent reference (MODULE:ATTR, file.py:ATTR) serves,
    and the outside callers (the network's user) that need keys too."""
    if is_network_file(target):
        from lamas.runtime.netfile import load_spec, spec_cards

        spec = load_spec(target)
        return [card for _, card in spec_cards(spec)], [spec.topology.entry]
    from lamas.interop.launch import agent_from_reference

    return [agent_from_reference(target).card], ["user"]


class Limits(NamedTuple):
    """The orchestrator's durable task state and admission limits, as options gave them."""

    task_state: str | None
    max_active: int
    max_waiting: int
    provider_wait: float | None = None

    def recovery(self, name: str) -> Any:
        from lamas.runtime.recovery import Admission, Recovery, TaskStore

        return Recovery(
            admission=Admission(self.max_active, self.max_waiting, name=name),
            store=TaskStore(self.task_state),
            provider_wait=self.provider_wait,
        )


def _log_setup() -> None:
    """lamas's own events at INFO; not every HTTP request the node makes (registry sync)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def registry(
    keys: KeysOption,
    port: Annotated[int, typer.Option(help="port to listen on")] = 8700,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    interval: Annotated[float, typer.Option(help="seconds between health checks")] = 2.0,
    misses: Annotated[
        int, typer.Option(help="failed checks in a row before an agent is dropped")
    ] = 2,
) -> None:
    """Run the registry: agents publish signed cards, orchestrators discover by capability."""
    import uvicorn

    from lamas.interop.keys import KeyFolder
    from lamas.interop.registry import Registry, registry_app

    _log_setup()
    try:
        state = Registry(KeyFolder(keys).trust(), interval=interval, misses=misses)
    except LamasError as error:
        err.print(f"[bold red]error:[/] {escape(str(error))}")
        raise typer.Exit(code=2) from None
    out.print(f"registry at http://{host}:{port}/", highlight=False)
    uvicorn.run(registry_app(state), host=host, port=port, log_level="warning")


def keys(
    target: Annotated[
        str,
        typer.Argument(
            help="a network file, or one agent: MODULE:ATTRIBUTE or path/to/file.py:ATTRIBUTE"
        ),
    ],
    folder: Annotated[Path, typer.Argument(help="where to write the keys")],
) -> None:
    """Make a key for every agent and entity of a network, or for one agent and its entity
    (existing keys are kept)."""
    from lamas.interop.keys import make_keys

    try:
        cards, callers = cards_of(target)
        made = make_keys(folder, cards, callers=callers)
    except LamasError as error:
        err.print(f"[bold red]error:[/] {escape(str(error))}")
        raise typer.Exit(code=2) from None
    out.print(f"keys for {len(cards)} agent(s) in {made.path}", highlight=False)
