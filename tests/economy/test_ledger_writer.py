"""Group commit: many callers' appends committed together, each acknowledged after its commit.

A real SQLite file; the writer's crash safety (SIGKILL mid-stream) is in test_ledger_crash.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from lamas.economy import GroupWriter, Ledger, NewEntry
from lamas.errors import MalformedMessage
from lamas.protocol.ledger import LedgerInputError
from lamas.security import PrivateKey
from lamas.store import create_engine


def _ledger(tmp_path: Path, key: PrivateKey | None = None) -> Ledger:
    return Ledger(
        create_engine(f"sqlite:///{tmp_path / 'ledger.db'}"), key or PrivateKey.generate()
    )


def test_appends_from_many_threads_are_committed_in_groups(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    results: dict[int, list[int]] = {}

    def caller(n: int, writer: GroupWriter) -> None:
        futures = [writer.append("task.opened", task_id=f"t{n}-{i}") for i in range(50)]
        batch = writer.submit(NewEntry("task.opened", f"b{n}-{i}") for i in range(5))
        results[n] = [f.result(timeout=60).sequence for f in futures]
        results[-n - 1] = [e.sequence for e in batch.result(timeout=60)]

    with ledger.writer() as writer:
        threads = [threading.Thread(target=caller, args=(n, writer)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    total = 8 * 55
    sequences = sorted(s for seqs in results.values() for s in seqs)
    assert sequences == list(range(1, total + 1))  # every append acknowledged, once
    for n in range(8):  # a submit is committed together, in one piece
        batch = results[-n - 1]
        assert batch == list(range(batch[0], batch[0] + 5))
    assert writer.transactions < total / 4  # they were grouped
    report = ledger.verify()
    assert report.ok, report
    assert report.entries == total
    assert report.signatures == writer.transactions  # one signature per group


def test_asyncio_tasks_await_their_own_commit(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)

    async def main(writer: GroupWriter) -> list[int]:
        async def one(i: int) -> int:
            entry = await writer.append_async("task.opened", task_id=f"a{i}")
            return entry.sequence

        async def wrapped(i: int) -> int:  # a thread's future, awaited the generic way
            entry = await asyncio.wrap_future(writer.append("task.opened", task_id=f"w{i}"))
            return entry.sequence

        async def batch(i: int) -> list[int]:
            entries = await writer.submit_async(
                NewEntry("task.opened", f"b{i}-{k}") for k in range(3)
            )
            return [e.sequence for e in entries]

        singles = await asyncio.gather(
            *(one(i) for i in range(300)), *(wrapped(i) for i in range(50))
        )
        batches = await asyncio.gather(*(batch(i) for i in range(10)))
        for seqs in batches:
            assert seqs == list(range(seqs[0], seqs[0] + 3))
        assert await writer.submit_async([]) == []
        return [*singles, *(s for seqs in batches for s in seqs)]

    with ledger.writer() as writer:
        sequences = asyncio.run(main(writer))
    assert sorted(sequences) == list(range(1, 381))
    assert writer.transactions < 100
    assert ledger.verify().ok


def test_bad_input_raises_at_the_call_and_queues_nothing(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    with ledger.writer() as writer:
        with pytest.raises(MalformedMessage, match="payout"):
            writer.append("payout", task_id="t", payload={"amount": "1.00", "currency": "EUR"})
        with pytest.raises(MalformedMessage, match="entry 1 of the batch"):
            writer.submit([NewEntry("task.opened", "ok"), NewEntry("nope", "bad")])
        assert writer.submit([]).result() == []
    assert ledger.head() is None  # nothing was written
    with pytest.raises(LedgerInputError, match="closed"):
        writer.append("task.opened", task_id="late")
    with pytest.raises(LedgerInputError, match="max_entries"):
        ledger.writer(max_entries=0)
    with pytest.raises(LedgerInputError, match="signing key"):
        Ledger(ledger.engine).writer()


def test_a_failed_commit_fails_every_future_of_its_group(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.append("task.opened", task_id="first")
    with sqlite3.connect(tmp_path / "ledger.db") as db:  # the table is gone behind its back
        db.execute("DROP TABLE ledger_entries")
    with ledger.writer() as writer:
        future = writer.append("task.opened", task_id="lost")
        with pytest.raises(Exception, match="ledger_entries"):
            future.result(timeout=60)
        with pytest.raises(Exception, match="ledger_entries"):
            asyncio.run(writer.append_async("task.opened", task_id="lost too"))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_appends_after_the_writer_thread_died_are_refused(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    writer = ledger.writer()
    writer._queue.put(object())  # not a pending append: the thread fails on it and stops
    writer._thread.join(timeout=60)
    assert not writer._thread.is_alive()
    with pytest.raises(LedgerInputError, match=r"closed|stopped"):
        writer.append("task.opened", task_id="late")
    writer.close()  # closing a dead writer is harmless
