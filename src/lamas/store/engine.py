"""The database engine: SQLite (a file, WAL) by default, PostgreSQL by URL.

SQLAlchemy is imported here and nowhere above the store, and only when a store is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url

from lamas.config import database_url
from lamas.errors import ConfigError
from lamas.store.tables import metadata


def create_engine(url: str | None = None, *, create_tables: bool = True) -> Engine:
    """An engine for `url` (see `lamas.config.database_url`), with lamas's tables created."""
    resolved = database_url(url)
    try:
        parsed = make_url(resolved)
    except Exception as error:
        raise ConfigError(f"not a database URL: {resolved!r} ({error})") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa_create_engine(resolved, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        if parsed.get_backend_name() == "postgresql":
            from lamas._extras import need

            need("psycopg", "postgres", "a PostgreSQL store")
        engine = sa_create_engine(resolved, pool_pre_ping=True)
    if create_tables:
        metadata.create_all(engine)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets readers run beside one writer; FULL sync makes a committed
    # transaction survive a power cut, not just a process crash.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
