"""Where lamas keeps its files, and which database it uses, from the environment."""

from __future__ import annotations

import os
from pathlib import Path


def lamas_home() -> Path:
    """Caches and the default database live here: `$LAMAS_HOME`, else `~/.cache/lamas`."""
    return Path(os.environ.get("LAMAS_HOME") or Path.home() / ".cache" / "lamas")


def database_url(url: str | None = None) -> str:
    """`url`, else `$LAMAS_DATABASE_URL`, else a SQLite file under `lamas_home()`."""
    return url or os.environ.get("LAMAS_DATABASE_URL") or f"sqlite:///{lamas_home() / 'lamas.db'}"
