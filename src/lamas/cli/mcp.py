"""`lamas mcp NETWORK.yaml`: a network served as an MCP server (stdio, or HTTP).

A desktop MCP client starts it as a command (stdio: stdout is the protocol, so nothing
else may be printed there; lamas logs to stderr). With `--http PORT` it serves MCP's
streamable HTTP at `http://HOST:PORT/mcp` instead. An agent of the file without a
handler is the orchestrator: its whole-task skill is a tool, and its model is loaded
when that tool is first called (listing tools and calling vendors' skills need none).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from lamas.errors import ConfigError, LamasError

if TYPE_CHECKING:
    from lamas.interop.mcp_server import NetworkMCP
    from lamas.runtime.orchestrator import Orchestrator

err = Console(stderr=True)


def mcp(
    network: Annotated[Path, typer.Argument(help="the network file to serve")],
    http: Annotated[
        int | None,
        typer.Option("--http", help="serve streamable HTTP on this port (default: stdio)"),
    ] = None,
    host: Annotated[str, typer.Option(help="address to listen on, with --http")] = "127.0.0.1",
    model: Annotated[
        str, typer.Option(help="the orchestrator's model (loaded on its first task)")
    ] = "qwen2.5-coder-1.5b",
    today: Annotated[
        str | None, typer.Option(help="pin the orchestrator's today (YYYY-MM-DD)")
    ] = None,
) -> None:
    """Serve a network's skills as MCP tools (and its orchestrator's whole task as one)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        day = dt.date.fromisoformat(today) if today else None
    except ValueError:
        err.print(f"[bold red]error:[/] --today {today!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(code=2) from None
    try:
        asyncio.run(_serve(network, http, host, model, day))
    except LamasError as error:
        err.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        pass


def network_mcp(path: Path, *, model: str, today: dt.date | None) -> NetworkMCP:
    """The MCP face of the network in `path` (its orchestrator made on first use)."""
    from lamas.interop.mcp_server import NetworkMCP
    from lamas.runtime.netfile import load, load_spec

    spec = load_spec(path)
    unhandled = [a.card for a in spec.agents if a.handler is None]
    if len(unhandled) > 1:
        ids = ", ".join(card.id for card in unhandled)
        raise ConfigError(f"{path}: {len(unhandled)} agents have no handler ({ids}); one at most")
    spec, network = load(path, external=[card.id for card in unhandled])
    card = unhandled[0] if unhandled else None

    async def make() -> Orchestrator:
        from lamas.agent.embeddings import MiniLMEmbedder
        from lamas.cli.demo import _profile_fields
        from lamas.llm.local import LocalModel
        from lamas.runtime.orchestrator import Orchestrator

        assert card is not None
        # stdout is the MCP channel: whatever loading a model prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            made = Orchestrator(
                network,
                LocalModel(model),
                MiniLMEmbedder(),
                agent_id=card.id,
                today=today,
                profile_fields=_profile_fields(spec) if spec.topology.centralized else (),
            )
        made.join(card)
        return made

    return NetworkMCP(
        network,
        name=spec.name,
        sender=card.id if card else spec.topology.entry,
        orchestrator=make if card else None,
        orchestrator_card=card,
        today=today,
    )


async def _serve(
    path: Path, http: int | None, host: str, model: str, today: dt.date | None
) -> None:
    served = network_mcp(path, model=model, today=today)
    server = served.server()
    if http is None:
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return
    import socket

    import uvicorn

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, http))
    except OSError as error:
        listening.close()
        raise ConfigError(f"cannot listen on {host}:{http}: {error.strerror}") from None
    app = server.streamable_http_app(host=host)
    err.print(f"{served.name}: MCP at http://{host}:{http}/mcp ({len(served.tools)} tools)")
    config = uvicorn.Config(app, log_level="warning")
    await uvicorn.Server(config).serve(sockets=[listening])
