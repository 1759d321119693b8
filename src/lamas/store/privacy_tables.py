"""The privacy budget's table: every differentially private release, and what it spent."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table

from lamas.store.tables import metadata

privacy_spend = Table(
    "privacy_spend",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(128), nullable=False, index=True),
    Column("query", String(500), nullable=False),
    Column("epsilon", Float, nullable=False),
    Column("delta", Float, nullable=False),
    Column("at", Float, nullable=False),
)
