"""Storage: one SQLAlchemy engine and lamas's tables (SQLite by default, PostgreSQL by URL)."""

from lamas.store.engine import create_engine
from lamas.store.tables import metadata

__all__ = ["create_engine", "metadata"]
