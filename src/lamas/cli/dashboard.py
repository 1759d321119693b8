"""`lamas dashboard`: serve the dashboard over a ledger (SQLite file or PostgreSQL URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lamas.errors import LamasError

out = Console()
err = Console(stderr=True)


def default_networks() -> list[Path]:
    """The example networks' files (for cards and topology), when this is a checkout."""
    from lamas.cli.demo import examples_dir

    return sorted(examples_dir().glob("*/network.yaml"))


def dashboard(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="database URL (default: $LAMAS_DATABASE_URL, else the local file)"
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option(help="address to listen on (anything but loopback needs --token)"),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8765,
    network: Annotated[
        list[Path] | None,
        typer.Option(
            "--network", "-n", help="network files for cards and topology (default: the examples)"
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="LAMAS_DASHBOARD_TOKEN",
            help="a secret every request must show (required beyond loopback; 16+ characters)",
        ),
    ] = None,
) -> None:
    """Serve the dashboard: tasks, plans, messages, votes, credit, payouts, the network, live."""
    from sqlalchemy.exc import SQLAlchemyError

    from lamas.dashboard.server import DashboardServer
    from lamas.economy.ledger import Ledger
    from lamas.store import create_engine
    from lamas.store.errors import describe

    try:
        ledger = Ledger(create_engine(db))
        server = DashboardServer(
            ledger, host=host, port=port, networks=network or default_networks(), token=token
        )
        out.print(f"lamas dashboard on [bold]{server.url}[/] (Ctrl-C stops it)")
        if token is not None:
            out.print(
                "every request needs the token: open it once with ?token=<token>, or send "
                "'Authorization: Bearer <token>'"
            )
        server.run()
    except LamasError as error:
        err.print(f"[bold red]error:[/] {escape(str(error))}")
        raise typer.Exit(code=2) from None
    except SQLAlchemyError as error:
        err.print(f"[bold red]error:[/] {escape(describe(error, 'the database'))}")
        raise typer.Exit(code=2) from None


def wait_for_interrupt() -> None:
    """Block until Ctrl-C (or SIGTERM), while a dashboard serves on its thread."""
    import contextlib
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
