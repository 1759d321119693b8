"""The ledger on a real PostgreSQL server: append, batch, verify, tamper detection, and
concurrent writers serialized by the advisory lock.

The server is started by the tests (`postgres_server`, tests/support/postgres.py) on
127.0.0.1 and stopped at the end; skipped, saying why, where none can start.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, delete, update
from support.ledger_rows import row, tamper

from lamas.economy import Ledger, NewEntry
from lamas.protocol.ledger import (
    GENESIS,
    RAW_FIELDS,
    LedgerEntry,
    Outcome,
    content_bytes,
    entry_hash,
    signing_message,
)
from lamas.security import KeyRing, PrivateKey
from lamas.store import create_engine
from lamas.store.ledger_tables import ledger_entries, ledger_signers


@pytest.fixture(scope="module")
def pg(postgres_server: str) -> Iterator[Engine]:
    engine = create_engine(postgres_server)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(pg: Engine) -> Engine:
    with pg.begin() as conn:  # each test starts from an empty ledger
        conn.execute(delete(ledger_entries))
        conn.execute(delete(ledger_signers))
    return pg


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return PrivateKey.generate()


def story(ledger: Ledger) -> list[LedgerEntry]:
    """Ten entries: 1..3 single appends, 4..10 one batch (signed: 1, 2, 3, 10)."""
    written = [ledger.append("task.opened", task_id="t1", payload={"instruction": "Lyon"})]
    written.append(
        ledger.append("step.done", task_id="t1", agent="hotel", payload={"step_id": "s1"})
    )
    written.append(
        ledger.append(
            "outcome",
            task_id="t1",
            payload=Outcome(value=Decimal("1234.5600"), currency="EUR", basis="flat_fee"),
        )
    )
    written += ledger.append_many(
        NewEntry("credit.allocated", "t1", {"amount": f"{i}.10", "currency": "EUR"}, f"a{i}")
        for i in range(7)
    )
    return written


def test_append_batch_read_and_verify(engine: Engine, key: PrivateKey) -> None:
    ledger = Ledger(engine, key)
    written = story(ledger)
    assert [e.sequence for e in written] == list(range(1, 11))
    assert written[0].prev_hash == GENESIS
    assert [e.sequence for e in written if e.signature] == [1, 2, 3, 10]
    assert list(ledger.entries()) == written
    assert [e.sequence for e in ledger.entries(kind="credit.allocated", after=5, limit=3)] == [
        6,
        7,
        8,
    ]
    body = next(iter(ledger.entries(kind="outcome"))).body()
    assert isinstance(body, Outcome)
    assert str(body.value) == "1234.5600"  # exact, trailing zeros and all
    report = Ledger(engine, keyring=KeyRing([key.public])).verify(batch=3)
    assert report.ok, report
    assert (report.entries, report.signatures) == (10, 4)


def _edit(engine: Engine) -> None:
    tamper(engine, 5, payload='{"amount":"99.10","currency":"EUR","outcome":null,"rule":"shapley"}')


def _delete(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.sequence == 5))


def _swap(engine: Engine) -> None:
    fifth, sixth = row(engine, 5), row(engine, 6)
    with engine.begin() as conn:
        for values in (fifth | {"sequence": 6}, sixth | {"sequence": 5}):
            values["hash"] = entry_hash(content_bytes(*(values[n] for n in RAW_FIELDS[:9])))
            conn.execute(
                update(ledger_entries)
                .where(ledger_entries.c.sequence == values["sequence"])
                .values(**values)
            )


def _forge(engine: Engine) -> None:
    intruder = PrivateKey.generate()
    tamper(engine, 3, signature=intruder.sign(signing_message(row(engine, 3)["hash"])).hex())


@pytest.mark.parametrize(
    ("attack", "sequence", "reason"),
    [
        (_edit, 5, "content does not match its hash"),
        (_delete, 5, "sequence gap: entry 5 is missing"),
        (_swap, 5, "prev_hash does not match entry 4's hash"),
        (_forge, 3, "signature does not verify"),
    ],
    ids=["edited", "deleted", "swapped", "forged"],
)
def test_tampering_is_named(
    engine: Engine, key: PrivateKey, attack: Any, sequence: int, reason: str
) -> None:
    story(Ledger(engine, key))
    attack(engine)
    report = Ledger(engine, keyring=KeyRing([key.public])).verify()
    assert report.problem is not None
    assert report.problem.sequence == sequence
    assert report.problem.reason.startswith(reason)


def test_concurrent_writers_are_serialized(engine: Engine) -> None:
    keys = [PrivateKey.generate() for _ in range(3)]
    errors: list[BaseException] = []

    def write(key: PrivateKey) -> None:
        ledger = Ledger(engine, key)
        try:
            for i in range(8):
                if i % 2:
                    ledger.append("task.opened", task_id=f"{key.id}-{i}")
                else:
                    ledger.append_many(
                        [NewEntry("task.opened", f"{key.id}-{i}-{j}") for j in range(4)]
                    )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = Ledger(engine, keyring=KeyRing(k.public for k in keys)).verify()
    assert report.ok, report
    assert report.entries == 3 * (4 + 4 * 4)
