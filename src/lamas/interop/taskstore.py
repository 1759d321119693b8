"""Where a node keeps its A2A tasks: bounded, and on disk when asked.

`task_store(url, retention)` is the SDK's own store behind `RetainingTaskStore`:

- no url: `InMemoryTaskStore` (tasks are lost with the process);
- a SQLAlchemy url (`sqlite:///tasks.db`, `postgresql://...`): the SDK's
  `DatabaseTaskStore`, so a restarted node still answers `GetTask` for tasks it ran
  before (async drivers: aiosqlite, psycopg).

Either way a task is kept at most `ttl_seconds` after its last update, and at most
`max_tasks` tasks of at most `max_bytes` in all are kept (the least recently updated go
first): memory and disk no longer grow with every request. Both stores keep tasks per
owner (see `interop/guard.py`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.server.tasks import DatabaseTaskStore, InMemoryTaskStore, TaskStore
from a2a.types import ListTasksRequest, ListTasksResponse, Task, TaskState
from a2a.utils.errors import InternalError
from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from lamas.errors import ConfigError
from lamas.interop.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_TASKS, DEFAULT_TTL_SECONDS
from lamas.store.errors import describe, is_database_error

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long, and how many, A2A tasks a node keeps."""

    ttl_seconds: float = DEFAULT_TTL_SECONDS
    max_tasks: int = DEFAULT_MAX_TASKS
    max_bytes: int = DEFAULT_MAX_BYTES
    """Their total size (protobuf bytes): a cap on count alone lets 1 MB tasks fill memory."""

    def __post_init__(self) -> None:
        if not self.ttl_seconds > 0:
            raise ConfigError(f"task ttl must be > 0 seconds, got {self.ttl_seconds}")
        if self.max_tasks < 1:
            raise ConfigError(f"the task cap must be at least 1, got {self.max_tasks}")
        if self.max_bytes < 1:
            raise ConfigError(f"the task byte cap must be at least 1, got {self.max_bytes}")


@dataclass(frozen=True, slots=True)
class _Owner(User):
    name: str

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self.name


class RetainingTaskStore(TaskStore):
    """`inner` with a time-to-live and a cap on its tasks (see the module)."""

    def __init__(
        self,
        inner: TaskStore,
        retention: Retention = Retention(),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.retention = retention
        self._clock = clock
        # id -> (owner, last saved at, size in bytes), least recently saved first
        self._kept: OrderedDict[str, tuple[str, float, int]] = OrderedDict()
        self._bytes = 0
        self._loaded = not isinstance(inner, DatabaseTaskStore)

    async def save(self, task: Task, context: ServerCallContext) -> None:
        with _plainly():
            await self._load()
            await self.inner.save(task, context)
        size = task.ByteSize()
        _, _, before = self._kept.get(task.id, ("", 0.0, 0))
        self._kept[task.id] = (context.user.user_name, self._clock(), size)
        self._kept.move_to_end(task.id)
        self._bytes += size - before
        with _plainly():
            await self._evict()

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        with _plainly():
            await self._load()
            await self._evict()
            return await self.inner.get(task_id, context)

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        with _plainly():
            await self._load()
            await self._evict()
            return await self.inner.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        with _plainly():
            await self.inner.delete(task_id, context)
        _, _, size = self._kept.pop(task_id, ("", 0.0, 0))
        self._bytes -= size

    def __len__(self) -> int:
        return len(self._kept)

    async def _evict(self) -> None:
        cutoff = self._clock() - self.retention.ttl_seconds
        limit = self.retention
        while self._kept:
            task_id, (owner, at, size) = next(iter(self._kept.items()))
            over = len(self._kept) > limit.max_tasks or self._bytes > limit.max_bytes
            if at >= cutoff and not over:
                return
            del self._kept[task_id]
            self._bytes -= size
            await self.inner.delete(task_id, ServerCallContext(user=_Owner(owner)))

    async def _load(self) -> None:
        """A database store holds tasks from earlier runs: drop the expired ones, and track
        the newest `max_tasks` (dropping the rest), so the bound holds across restarts."""
        if self._loaded:
            return
        self._loaded = True
        store = self.inner
        assert isinstance(store, DatabaseTaskStore)
        await store.initialize()
        model = store.task_model
        async with store.async_session_maker.begin() as session:
            rows = (
                await session.execute(
                    select(model.id, model.owner, model.last_updated).order_by(
                        model.last_updated.desc().nulls_last()
                    )
                )
            ).all()
            keep = rows[: self.retention.max_tasks]
            drop = [row.id for row in rows[self.retention.max_tasks :]]
            now = self._clock()
            for row in reversed(keep):
                at = row.last_updated.timestamp() if row.last_updated is not None else now
                self._kept[row.id] = (row.owner or "", at, 0)  # sizes count from the next save
            if drop:
                await session.execute(delete(model).where(model.id.in_(drop)))
        await self._evict()


@contextlib.contextmanager
def _plainly() -> Iterator[None]:
    """A database failure as an A2A internal error in words (its SQL only in the log)."""
    try:
        yield
    except Exception as error:
        if not is_database_error(error):
            raise
        log.warning("the A2A task store failed: %s", error)
        raise InternalError(message=describe(error, "the A2A task store")) from None


class QuestionsKept(TaskStore):
    """Tasks in memory, and those waiting for their answers (input-required) in a
    database as well: after a restart, an answer finds the task it continues.

    Only questions are written: every status update of every task in a SQLite store
    (the task rewritten each time, its history growing) could not keep up with 200
    concurrent tasks on a 2-core machine (requests waited over 120 s for a connection).
    """

    def __init__(self, memory: TaskStore, durable: TaskStore) -> None:
        self.memory = memory
        self.durable = durable
        self._asked: set[str] = set()  # tasks whose question is (or may be) in `durable`
        # The questions an earlier run left in `durable`, read once: a task unknown to
        # memory is looked up there only if it is one of them. (Looking every new task
        # up in the database made 200 concurrent requests queue for its few connections:
        # 8 were refused after 120 s, "no free database connection".)
        self._before: set[str] | None = None

    async def save(self, task: Task, context: ServerCallContext) -> None:
        await self.memory.save(task, context)
        if task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            await self.durable.save(task, context)
            self._asked.add(task.id)
        elif task.id in self._asked:  # answered (or ended): its question is gone
            self._asked.discard(task.id)
            await self.durable.delete(task.id, context)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        found = await self.memory.get(task_id, context)
        if found is None and task_id in await self._earlier():  # asked before a restart?
            found = await self.durable.get(task_id, context)
            if found is not None:
                self._asked.add(task_id)
                await self.memory.save(found, context)
        return found

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        return await self.memory.list(params, context)

    async def _earlier(self) -> set[str]:
        """The ids of the tasks whose questions were in `durable` when this run began
        (every id may be, for a store that cannot list them)."""
        if self._before is None:
            store = self.durable
            if not isinstance(store, DatabaseTaskStore):
                return _Everything()
            await store.initialize()
            async with store.async_session_maker() as session:
                rows = await session.execute(select(store.task_model.id))
            self._before = {row[0] for row in rows}
        return self._before

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        await self.memory.delete(task_id, context)
        if task_id in self._asked:
            self._asked.discard(task_id)
            await self.durable.delete(task_id, context)


class _Everything(set[str]):
    """A set holding every string (a store whose tasks cannot be listed may hold any)."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str)


def questions_kept(url: str, retention: Retention = Retention()) -> RetainingTaskStore:
    """A store keeping tasks in memory and their questions in the database at `url`."""
    durable = DatabaseTaskStore(_engine(async_url(url)))
    return RetainingTaskStore(QuestionsKept(InMemoryTaskStore(), durable), retention)


def task_store(url: str | None = None, retention: Retention = Retention()) -> RetainingTaskStore:
    """The store a node keeps its A2A tasks in (see the module's docstring)."""
    if url is None:
        return RetainingTaskStore(InMemoryTaskStore(), retention)
    return RetainingTaskStore(DatabaseTaskStore(_engine(async_url(url))), retention)


def _engine(url: str) -> AsyncEngine:
    """An async engine. SQLite has one writer at a time, and every status update of every
    task is a write: in WAL with `synchronous=NORMAL` a commit needs no fsync (still
    durable when the process is killed: only a crash of the machine may lose the last
    ones), writers wait up to 30 s for the lock and requests up to 120 s for a
    connection. With SQLite's defaults, 10 concurrent tasks were refused with "database
    is locked" and a flood of 200 requests got HTTP 500 (no connection in 30 s)."""
    if not url.startswith("sqlite"):
        return create_async_engine(url)
    engine = create_async_engine(url, connect_args={"timeout": 30}, pool_timeout=120)

    @event.listens_for(engine.sync_engine, "connect")
    def pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def sibling_url(url: str, suffix: str) -> str:
    """For a SQLite file URL, the same URL naming a file beside it (`tasks.db` ->
    `tasks-<suffix>.db`): two stores written at once then do not queue on one file's
    lock. Any other database is returned as it is (it locks rows, not files)."""
    scheme, sep, path = url.partition(":///")
    if not sep or not scheme.startswith("sqlite") or not path or path == ":memory:":
        return url
    file = Path(path)
    beside = file.with_name(f"{file.stem}-{suffix}{file.suffix or '.db'}")
    return f"{scheme}:///{beside}"


def async_url(url: str) -> str:
    """The async-driver form of a SQLAlchemy url (`sqlite://` -> `sqlite+aiosqlite://`,
    `postgresql://` -> `postgresql+psycopg://`); a url naming a driver is kept."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"task store url {url!r} is not a SQLAlchemy url (sqlite:///tasks.db)")
    drivers = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
    if "+" in scheme:
        return url
    if scheme not in drivers:
        raise ConfigError(f"task store url {url!r}: lamas keeps tasks in sqlite or postgresql")
    return f"{drivers[scheme]}://{rest}"
