"""Resolving an id prefix against a table column (`lamas.protocol.ids` says why)."""

from __future__ import annotations

from sqlalchemy import Column, Engine, select

from lamas.protocol.ids import SHOWN, check_prefix, match_prefix


def resolve_prefix(engine: Engine, column: Column[str], prefix: str, what: str) -> str:
    """The one value of `column` that is `prefix` or starts with it (a few rows read: the
    column's index serves a prefix match)."""
    check_prefix(prefix, what)
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(column)
        .where(column.like(f"{escaped}%", escape="\\"))
        .distinct()
        .order_by(column)
        .limit(SHOWN + 1)
    )
    with engine.connect() as connection:
        found = [row[0] for row in connection.execute(query)]
    return match_prefix(prefix, found, what)


def resolve_task(engine: Engine, prefix: str) -> str:
    """The task id in the ledger that `prefix` names."""
    from lamas.store.ledger_tables import ledger_entries

    return resolve_prefix(engine, ledger_entries.c.task_id, prefix, "task")
