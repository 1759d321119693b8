"""Group commit: appends from many callers, committed together.

A durable commit costs an fsync (milliseconds), whatever it holds; an entry costs tens of
microseconds. `Ledger.append` pays one fsync per entry, `append_many` one per batch, but
only for a caller that has a batch. A `GroupWriter` makes batches of what many callers
(threads, asyncio tasks) append one at a time: its thread takes everything waiting,
commits it in ONE transaction through the ledger's own path (write lock, one signature on
the last entry, WAL + synchronous=FULL on SQLite), and only then resolves each caller's
future. The guarantee is the ledger's: an append whose future has a result is committed,
and survives a crash (SIGKILL, power cut); one without may or may not be.

Each `submit` is atomic (its entries are never split across transactions). While the
thread commits, callers keep checking and queueing entries, so checking (CPU, in the
callers' threads) overlaps the database's write and fsync (which release the GIL).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from lamas.errors import MalformedMessage
from lamas.protocol.ledger import Draft, EntryKind, LedgerEntry, LedgerInputError, draft

if TYPE_CHECKING:
    import asyncio

    from lamas.economy.ledger import Ledger, NewEntry

MAX_ENTRIES = 10_000
"""Most entries one group transaction holds (a bigger submit is committed whole, alone)."""


@dataclass(frozen=True, slots=True)
class _Pending:
    drafts: list[Draft]
    future: Future[list[LedgerEntry]] | None = None  # a thread's caller waits on this
    loop: asyncio.AbstractEventLoop | None = None  # an asyncio caller waits on `waiter`
    waiter: asyncio.Future[Any] | None = None
    one: bool = False  # the waiter wants the entry, not a list


_STOP = object()


class GroupWriter:
    """Appends to `ledger` from any number of threads, committed in groups by one thread.

    Use as a context manager (leaving it commits what is pending and stops the thread), or
    call `close()`. From asyncio: `await writer.append_async(...)`.
    """

    def __init__(self, ledger: Ledger, *, max_entries: int = MAX_ENTRIES) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise LedgerInputError(f"max_entries must be a positive integer, got {max_entries!r}")
        if ledger.signer is None:
            raise LedgerInputError(
                "this ledger was opened without a signing key; pass signer=PrivateKey.load(path)"
            )
        self.ledger = ledger
        self.max_entries = max_entries
        self.transactions = 0  # group transactions committed (or failed)
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lamas-ledger-writer", daemon=True)
        self._thread.start()

    # --- callers ---------------------------------------------------------------------------

    def append(
        self,
        kind: EntryKind | str,
        *,
        task_id: str,
        payload: BaseModel | Mapping[str, Any] | None = None,
        agent: str | None = None,
        entity: str | None = None,
    ) -> Future[LedgerEntry]:
        """Queue one entry (checked now: bad input raises here and queues nothing); the
        future's result is the entry, once committed."""
        group = self._queue_drafts([draft(kind, task_id, agent, entity, payload)])
        one: Future[LedgerEntry] = Future()

        def settle(done: Future[list[LedgerEntry]]) -> None:
            error = done.exception()
            if error is not None:
                one.set_exception(error)
            else:
                one.set_result(done.result()[0])

        group.add_done_callback(settle)
        return one

    def submit(self, entries: Iterable[NewEntry]) -> Future[list[LedgerEntry]]:
        """Queue entries to be committed together, all or none (each is checked now, as by
        `Ledger.append_many`); the future's result is the entries, once committed."""
        drafts = _drafts(entries)
        if not drafts:
            done: Future[list[LedgerEntry]] = Future()
            done.set_result([])
            return done
        return self._queue_drafts(drafts)

    async def append_async(
        self,
        kind: EntryKind | str,
        *,
        task_id: str,
        payload: BaseModel | Mapping[str, Any] | None = None,
        agent: str | None = None,
        entity: str | None = None,
    ) -> LedgerEntry:
        """`append` for asyncio: returns the entry once committed. The writer wakes each
        event loop once per group, not once per entry (which `wrap_future` would)."""
        entry: LedgerEntry = await self._wait([draft(kind, task_id, agent, entity, payload)], True)
        return entry

    async def submit_async(self, entries: Iterable[NewEntry]) -> list[LedgerEntry]:
        """`submit` for asyncio: returns the entries once committed."""
        drafts = _drafts(entries)
        if not drafts:
            return []
        written: list[LedgerEntry] = await self._wait(drafts, False)
        return written

    async def _wait(self, drafts: list[Draft], one: bool) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._put(_Pending(drafts, loop=loop, waiter=waiter, one=one))
        return await waiter

    def close(self) -> None:
        """Commit everything queued so far, then stop the thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def __enter__(self) -> GroupWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _queue_drafts(self, drafts: list[Draft]) -> Future[list[LedgerEntry]]:
        future: Future[list[LedgerEntry]] = Future()
        self._put(_Pending(drafts, future))
        return future

    def _put(self, pending: _Pending) -> None:
        with self._lock:  # nothing is queued behind the stop mark
            if self._closed:
                raise LedgerInputError("this group writer is closed; open another")
            if not self._thread.is_alive():
                raise LedgerInputError("this group writer's thread has stopped; open another")
            self._queue.put(pending)

    # --- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        finally:  # stopped (or killed by an error): nobody may wait for ever
            with self._lock:
                self._closed = True
            self._fail_waiting()

    def _fail_waiting(self) -> None:
        stopped = LedgerInputError("the group writer stopped before committing this")
        left = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Pending):
                left.append(item)
        if left:
            self._deliver(left, [stopped] * len(left))

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            assert isinstance(first, _Pending)
            group, size = [first], len(first.drafts)
            while size < self.max_entries:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                assert isinstance(more, _Pending)
                group.append(more)
                size += len(more.drafts)
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        self.transactions += 1
        outcomes: list[list[LedgerEntry] | BaseException]
        try:
            written = self.ledger._commit([d for pending in group for d in pending.drafts])
        except BaseException as error:  # nothing of the transaction was committed
            outcomes = [error] * len(group)
            self._deliver(group, outcomes)
            if not isinstance(error, Exception):
                raise
            return
        outcomes, start = [], 0
        for pending in group:
            end = start + len(pending.drafts)
            outcomes.append(written[start:end])
            start = end
        self._deliver(group, outcomes)

    @staticmethod
    def _deliver(group: list[_Pending], outcomes: list[list[LedgerEntry] | BaseException]) -> None:
        """Resolve each caller's future; asyncio callers through one call per event loop."""
        loops: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, Any]]] = {}
        for pending, outcome in zip(group, outcomes, strict=True):
            if pending.loop is not None:
                loops.setdefault(pending.loop, []).append((pending, outcome))
            elif isinstance(outcome, BaseException):
                assert pending.future is not None
                pending.future.set_exception(outcome)
            else:
                assert pending.future is not None
                pending.future.set_result(outcome)
        for loop, items in loops.items():
            with suppress(RuntimeError):  # that loop has closed: nobody is waiting any more
                loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[tuple[_Pending, Any]]) -> None:
    for pending, outcome in items:
        waiter = pending.waiter
        if waiter is None or waiter.done():  # cancelled meanwhile (the entry still stands)
            continue
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome[0] if pending.one else outcome)


def _drafts(entries: Iterable[NewEntry]) -> list[Draft]:
    drafts = []
    for index, new in enumerate(entries):
        try:
            drafts.append(draft(new.kind, new.task_id, new.agent, new.entity, new.payload))
        except MalformedMessage as error:
            error.args = (f"entry {index} of the batch: {error}",)
            raise
    return drafts
