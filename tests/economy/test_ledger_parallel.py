"""Parallel verification reaches the sequential verdict, on an intact chain and on tampered ones.

The ledger is a real SQLite file; each tamper edits it behind the ledger's back (as in
test_ledger.py), then the same ledger is verified with one process and with three.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from lamas.economy import Ledger, NewEntry
from lamas.protocol.ledger_verify import ChainHead, VerifyReport
from lamas.security import PrivateKey
from lamas.store import create_engine

BATCHES, PER_BATCH = 12, 25  # signed entries at 25, 50, ..., 300


def _ledger(tmp_path: Path, key: PrivateKey) -> tuple[Ledger, Path]:
    path = tmp_path / "ledger.db"
    ledger = Ledger(create_engine(f"sqlite:///{path}"), key)
    for b in range(BATCHES):
        ledger.append_many(
            NewEntry("task.opened", f"task-{b}-{i}", {"instruction": f"entry {i}"})
            for i in range(PER_BATCH)
        )
    return ledger, path


def _same(ledger: Ledger) -> VerifyReport:
    one = ledger.verify(workers=1)
    three = ledger.verify(workers=3)
    assert dataclasses.replace(three, seconds=0.0) == dataclasses.replace(one, seconds=0.0)
    return one


def _sql(path: Path, statement: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(statement)


def test_an_intact_chain_verifies_the_same_in_parallel(tmp_path: Path) -> None:
    ledger, _ = _ledger(tmp_path, PrivateKey.generate())
    report = _same(ledger)
    assert report.ok
    assert (report.entries, report.signatures) == (BATCHES * PER_BATCH, BATCHES)
    assert report.head is not None
    assert report.head.sequence == BATCHES * PER_BATCH


TAMPERS: dict[str, Callable[[Path], None]] = {
    "payload edited mid-stretch": lambda p: _sql(
        p, 'UPDATE ledger_entries SET payload = \'{"instruction":"x"}\' WHERE sequence = 160'
    ),
    "entry deleted at a cut": lambda p: _sql(p, "DELETE FROM ledger_entries WHERE sequence = 100"),
    "entry deleted after a cut": lambda p: _sql(
        p, "DELETE FROM ledger_entries WHERE sequence = 101"
    ),
    "last signature stripped": lambda p: _sql(
        p, "UPDATE ledger_entries SET signature = NULL WHERE sequence = 300"
    ),
    "tail deleted": lambda p: _sql(p, "DELETE FROM ledger_entries WHERE sequence > 290"),
}


@pytest.mark.parametrize("name", TAMPERS)
def test_a_tampered_chain_fails_the_same_in_parallel(tmp_path: Path, name: str) -> None:
    ledger, path = _ledger(tmp_path, PrivateKey.generate())
    TAMPERS[name](path)
    report = _same(ledger)
    assert not report.ok, name


def test_a_signature_stripped_at_a_cut_is_covered_by_the_next_in_parallel_too(
    tmp_path: Path,
) -> None:
    """The next signature by the same writer covers the stripped one's entries (the chain
    rule): no cut may be made there, and the verdict is the sequential one, ok."""
    ledger, path = _ledger(tmp_path, PrivateKey.generate())
    _sql(path, "UPDATE ledger_entries SET signature = NULL WHERE sequence = 100")
    report = _same(ledger)
    assert report.ok
    assert report.signatures == BATCHES - 1


def test_an_anchor_is_held_in_parallel_too(tmp_path: Path) -> None:
    ledger, _ = _ledger(tmp_path, PrivateKey.generate())
    head = ledger.head()
    assert head is not None
    assert ledger.verify(anchor=head, workers=3).ok
    wrong = ChainHead(head.sequence, "0" * 64)
    one, three = ledger.verify(anchor=wrong, workers=1), ledger.verify(anchor=wrong, workers=3)
    assert not three.ok
    assert three.problem == one.problem
    beyond = ChainHead(head.sequence + 5, head.hash)
    assert ledger.verify(anchor=beyond, workers=3).problem == ledger.verify(anchor=beyond).problem


def test_the_parallel_pass_really_runs_in_stretches(tmp_path: Path) -> None:
    from lamas.economy.ledger_parallel import verify_in_parallel

    ledger, _ = _ledger(tmp_path, PrivateKey.generate())
    report = verify_in_parallel(ledger, ledger._verifying_keys(), None, 3, 1000)
    assert report is not None
    assert report.ok
    assert report.entries == BATCHES * PER_BATCH


def test_a_bad_worker_count_is_refused(tmp_path: Path) -> None:
    from lamas.protocol.ledger import LedgerInputError

    ledger, _ = _ledger(tmp_path, PrivateKey.generate())
    with pytest.raises(LedgerInputError, match="workers must be 1 or more"):
        ledger.verify(workers=0)
