"""What the CLI's commands share: the error console, how a command fails (a red line and
exit code 2), the `--db` option, and opening that database with a clear error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from lamas.economy.ledger import Ledger

err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="database URL (default: $LAMAS_DATABASE_URL, else the local file)"),
]


def fail(error: Exception) -> typer.Exit:
    """Say what went wrong; `raise fail(error) from None` ends the command with code 2."""
    err.print(f"[bold red]error:[/] {escape(str(error))}")
    return typer.Exit(code=2)


def open_engine(url: str | None) -> Engine:
    """The database at `url` (default: the configured one); one it cannot open ends the
    command with a clear error, not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from lamas.store import create_engine
    from lamas.store.errors import store_error

    try:
        return create_engine(url)
    except SQLAlchemyError as error:
        raise fail(store_error(error, "the database")) from None


def open_ledger(url: str | None) -> Ledger:
    """The ledger in the database at `url`, without a signing key (to read and verify)."""
    from lamas.economy.ledger import Ledger

    return Ledger(open_engine(url))
