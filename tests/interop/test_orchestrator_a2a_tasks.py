"""Where an orchestrator with durable task state keeps its A2A tasks: beside that state
(a SQLite file of its own, so the two stores' writes do not queue on one lock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.types import Task, TaskState, TaskStatus

from lamas.interop.taskstore import _Owner, sibling_url
from lamas.interop.taskstore import questions_kept as kept

TASK_INPUT = TaskState.TASK_STATE_INPUT_REQUIRED


def test_a_sqlite_file_gets_a_sibling_and_other_databases_are_kept() -> None:
    assert (
        sibling_url("sqlite:////var/lamas/tasks.db", "a2a") == "sqlite:////var/lamas/tasks-a2a.db"
    )
    assert sibling_url("sqlite:///tasks.db", "a2a") == "sqlite:///tasks-a2a.db"
    assert sibling_url("sqlite:////var/lamas/state", "a2a") == "sqlite:////var/lamas/state-a2a.db"
    assert sibling_url("postgresql://lamas@db/lamas", "a2a") == "postgresql://lamas@db/lamas"
    assert sibling_url("sqlite://", "a2a") == "sqlite://"  # in memory: nothing to put beside


async def test_only_questions_reach_the_database_and_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tasks-a2a.db'}"
    mine = ServerCallContext(user=_Owner("capability:abc"))
    opened: list[Any] = []

    def questions_kept(url: str) -> Any:  # each one a process's store, closed at the end
        opened.append(kept(url))
        return opened[-1]

    try:
        await _questions(url, mine, questions_kept)
    finally:
        for store in opened:
            await store.inner.durable.engine.dispose()


async def _questions(url: str, mine: ServerCallContext, questions_kept: Any) -> None:
    first = questions_kept(url)
    working = Task(id="t1", context_id="c1", status=TaskStatus(state=TaskState.TASK_STATE_WORKING))
    await first.save(working, mine)
    asking = Task(id="t2", context_id="c2", status=TaskStatus(state=TASK_INPUT))
    await first.save(asking, mine)
    again = questions_kept(url)  # the orchestrator restarted: memory is gone
    assert await again.get("t1", mine) is None  # a working task was never written
    found = await again.get("t2", mine)
    assert found is not None
    assert found.status.state == TASK_INPUT
    # Answered: the question leaves the database (and a third start finds nothing).
    answered = Task(id="t2", context_id="c2", status=TaskStatus(state=TaskState.TASK_STATE_WORKING))
    await again.save(answered, mine)
    assert (await again.get("t2", mine)).status.state == TaskState.TASK_STATE_WORKING  # type: ignore[union-attr]
    assert await questions_kept(url).get("t2", mine) is None
    # Another caller cannot read the question (the store keeps tasks per owner).
    await again.save(asking, mine)
    other = ServerCallContext(user=_Owner("capability:other"))
    assert await questions_kept(url).get("t2", other) is None
