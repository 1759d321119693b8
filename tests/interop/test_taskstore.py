"""A node's A2A task store: owned per caller, bounded by age and count, and on a SQLite
file it survives a restart (the SDK's database task store, async over aiosqlite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from a2a.server.context import ServerCallContext
from a2a.types import ListTasksRequest, Task, TaskState, TaskStatus

from lamas.errors import ConfigError
from lamas.interop.guard import Caller
from lamas.interop.taskstore import RetainingTaskStore, Retention, async_url, task_store


def as_(owner: str) -> ServerCallContext:
    return ServerCallContext(user=Caller(owner, owner, f"key:{owner}"))


def task(n: int) -> Task:
    status = TaskStatus(state=TaskState.TASK_STATE_COMPLETED)
    status.timestamp.FromSeconds(1_800_000_000 + n)  # task n updated at second n
    return Task(id=f"00000000-0000-0000-0000-{n:012d}", context_id="c", status=status)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_tasks_are_kept_per_owner() -> None:
    store = task_store()
    await store.save(task(1), as_("agent:alice"))
    assert await store.get(task(1).id, as_("agent:alice")) is not None
    assert await store.get(task(1).id, as_("agent:mallory")) is None
    listed = await store.list(ListTasksRequest(), as_("agent:mallory"))
    assert list(listed.tasks) == []


async def test_the_cap_drops_the_least_recently_updated() -> None:
    store = task_store(retention=Retention(ttl_seconds=3600, max_tasks=3))
    for n in range(5):
        await store.save(task(n), as_("agent:alice"))
    await store.save(task(2), as_("agent:alice"))  # updated: now the most recent
    kept = await store.list(ListTasksRequest(), as_("agent:alice"))
    assert sorted(t.id[-1] for t in kept.tasks) == ["2", "3", "4"]
    assert len(store) == 3


async def test_the_byte_cap_drops_old_tasks_when_big_ones_come() -> None:
    store = task_store(retention=Retention(max_bytes=50_000))
    for n in range(3):
        await store.save(task(n), as_("agent:alice"))
    big = task(9)
    big.metadata["blob"] = "z" * 40_000
    await store.save(big, as_("agent:alice"))
    kept = await store.list(ListTasksRequest(), as_("agent:alice"))
    assert big.id in {t.id for t in kept.tasks}
    await store.save(task(10), as_("agent:alice"))
    big2 = task(11)
    big2.metadata["blob"] = "z" * 40_000
    await store.save(big2, as_("agent:alice"))  # the first big one (older) must go
    ids = {t.id for t in (await store.list(ListTasksRequest(), as_("agent:alice"))).tasks}
    assert big2.id in ids
    assert big.id not in ids


async def test_a_task_past_its_ttl_is_gone() -> None:
    clock = Clock()
    store = RetainingTaskStore(task_store().inner, Retention(ttl_seconds=60), clock=clock)
    await store.save(task(1), as_("agent:alice"))
    clock.now += 59
    assert await store.get(task(1).id, as_("agent:alice")) is not None
    clock.now += 2
    assert await store.get(task(1).id, as_("agent:alice")) is None


async def test_a_sqlite_store_keeps_tasks_across_a_restart_and_its_bound_too(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    first = task_store(url, Retention(max_tasks=10))
    for n in range(4):
        await first.save(task(n), as_("agent:alice"))
    await first.inner.engine.dispose()  # type: ignore[attr-defined]
    # A new process: the tasks are still there, for their owner only, and the cap holds
    # over what was already on disk.
    second = task_store(url, Retention(max_tasks=2))
    assert await second.get(task(3).id, as_("agent:alice")) is not None
    assert await second.get(task(3).id, as_("agent:mallory")) is None
    kept = await second.list(ListTasksRequest(), as_("agent:alice"))
    assert len(kept.tasks) == 2
    await second.inner.engine.dispose()  # type: ignore[attr-defined]


def test_bad_settings_are_refused_with_what_was_wrong() -> None:
    with pytest.raises(ConfigError, match="ttl"):
        Retention(ttl_seconds=0)
    with pytest.raises(ConfigError, match="cap"):
        Retention(max_tasks=0)
    with pytest.raises(ConfigError, match="byte cap"):
        Retention(max_bytes=0)
    with pytest.raises(ConfigError, match="sqlite or postgresql"):
        async_url("mysql://x/y")
    assert async_url("sqlite:///t.db") == "sqlite+aiosqlite:///t.db"
    assert async_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
