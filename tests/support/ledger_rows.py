"""Reading and editing ledger rows behind the ledger's back, as a tamperer would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, update

from lamas.store.ledger_tables import ledger_entries


def row(engine: Engine, sequence: int) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(ledger_entries).where(ledger_entries.c.sequence == sequence))
        return dict(found.one()._mapping)


def tamper(engine: Engine, sequence: int, /, **values: Any) -> None:
    """Overwrite columns of one row (`sequence` among them, to move it)."""
    with engine.begin() as conn:
        conn.execute(
            update(ledger_entries).where(ledger_entries.c.sequence == sequence).values(**values)
        )
