"""Where an orchestrator with durable task state keeps its A2A tasks: beside that state
(a SQLite file of its own, so the two stores' writes do not queue on one lock)."""

from __future__ import annotations

from lamas.interop.taskstore import sibling_url


def test_a_sqlite_file_gets_a_sibling_and_other_databases_are_kept() -> None:
    assert (
        sibling_url("sqlite:////var/lamas/tasks.db", "a2a") == "sqlite:////var/lamas/tasks-a2a.db"
    )
    assert sibling_url("sqlite:///tasks.db", "a2a") == "sqlite:///tasks-a2a.db"
    assert sibling_url("sqlite:////var/lamas/state", "a2a") == "sqlite:////var/lamas/state-a2a.db"
    assert sibling_url("postgresql://lamas@db/lamas", "a2a") == "postgresql://lamas@db/lamas"
    assert sibling_url("sqlite://", "a2a") == "sqlite://"  # in memory: nothing to put beside
