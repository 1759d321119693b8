"""lamas's tables, on one SQLAlchemy `MetaData`. Each store module's rows are declared here."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

episodes = Table(
    "episodes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agent_id", String(128), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    Column("embedder", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
)


# The ledger's tables live in their own module; importing it registers them on `metadata`.
import lamas.store.experience_tables  # noqa: E402
import lamas.store.ledger_tables  # noqa: E402
import lamas.store.recovery_tables  # noqa: E402, F401
