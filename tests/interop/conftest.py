"""Shared set-up for the networked-mode tests: the PostgreSQL server of the store tests
(tests/economy/test_ledger_postgres.py starts one on 127.0.0.1), reused here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "economy"))

from test_ledger_postgres import server as postgres_server

__all__ = ["postgres_server"]
