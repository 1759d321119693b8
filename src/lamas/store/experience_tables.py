"""The experience store's tables, on lamas's one `MetaData`, beside the ledger's.

`experience_records` holds one row per step served: the columns queries filter and
group on, and the whole record as JSON text (so a record reads back exactly as
written). Credit and feedback arrive after the step (on settlement, from the user) and
are the only columns ever updated.

`insights` is the shared insight pool: each entry's text, where it came from, its
measured utility and its state (active or retired). Its admission record (signed
provenance) lives in the guarded memory it was written through (`memory_id`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from lamas.store.tables import metadata

experience_records = Table(
    "experience_records",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("task_id", String(128), nullable=False),
    Column("step_id", String(128), nullable=False),
    Column("capability", String(128), nullable=False),
    Column("agent", String(128), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("strategy", String(256), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("at", Float, nullable=False),
    Column("credit", String(40)),
    Column("feedback", Float),
    Column("record", Text, nullable=False),
    Index("ix_experience_capability", "capability", "at"),
    Index("ix_experience_agent", "agent", "at"),
    Index("ix_experience_task", "task_id"),
)

insights = Table(
    "insights",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("capability", String(128)),
    Column("author", String(128), nullable=False),
    Column("sources", JSON, nullable=False),
    # Replay gain at admission, then a moving average of the gain measured in use.
    Column("utility", Float, nullable=False),
    Column("baseline", Float, nullable=False),
    Column("uses", Integer, nullable=False, default=0),
    Column("wins", Integer, nullable=False, default=0),
    Column("active", Boolean, nullable=False, default=True),
    Column("retired_why", String(256)),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    Column("embedder", String(128), nullable=False),
    Column("memory_id", Integer),
    Index("ix_insights_active", "active", "capability"),
)
