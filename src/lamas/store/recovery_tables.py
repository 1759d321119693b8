"""The recovery layer's tables, on lamas's one `MetaData`, beside the ledger's.

`orchestrator_tasks` holds one row per task an orchestrator is running: its whole
state (plan, step results, pending question) as JSON text, rewritten at every step
boundary, so that a restarted orchestrator resumes it (`runtime/recovery/durable.py`).

`idempotent_results` is a vendor's memory of the requests it has served by
idempotency key: the first result is returned to every repeat, so a booking retried
after a lost reply or a crash is never made twice (`runtime/recovery/idempotency.py`).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, String, Table, Text

from lamas.store.tables import metadata

orchestrator_tasks = Table(
    "orchestrator_tasks",
    metadata,
    Column("task_id", String(128), primary_key=True),
    Column("orchestrator", String(128), nullable=False, index=True),
    Column("state", String(32), nullable=False, index=True),
    Column("snapshot", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

idempotent_results = Table(
    "idempotent_results",
    metadata,
    Column("agent_id", String(128), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("skill", String(128), nullable=False),
    Column("task_id", String(128), nullable=True, index=True),
    Column("ref", String(128), nullable=False, index=True),
    Column("result", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    # The request the key is bound to (SHA-256 of its skill and data): the same key with
    # other data is refused. Added after the table first shipped: `create_table` adds it.
    Column("digest", String(64), nullable=True),
)
