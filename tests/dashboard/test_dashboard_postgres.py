"""The dashboard over a ledger in a real PostgreSQL server (the ledger tests' own server,
started here on 127.0.0.1; skipped, saying why, where none can start)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from lamas.dashboard.app import create_app
from lamas.dashboard.index import LedgerIndex
from lamas.dashboard.taskview import read_task
from lamas.economy.ledger import Ledger, NewEntry
from lamas.protocol.ledger import EntryKind
from lamas.security.identity import PrivateKey
from lamas.store import create_engine


@pytest.fixture
def ledger(postgres_server: str) -> Iterator[Ledger]:
    engine = create_engine(postgres_server)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ledger_entries")
        conn.exec_driver_sql("DELETE FROM ledger_signers")
    yield Ledger(engine, PrivateKey.generate())
    engine.dispose()


def test_pages_read_a_postgresql_ledger(ledger: Ledger) -> None:
    steps = [
        {"id": "search", "capability": "hotel.search"},
        {"id": "book", "capability": "hotel.book", "depends_on": ["search"]},
    ]
    ledger.append(
        EntryKind.TASK_OPENED,
        task_id="pg-1",
        agent="orchestrator",
        payload={"instruction": "a hotel in Lyon", "steps": steps},
    )
    entries = [
        NewEntry(
            EntryKind.MESSAGE,
            "pg-1",
            {"id": "m1", "sender": "orchestrator", "recipient": "hotel", "sent_at": 1.0},
            "orchestrator",
        ),
        NewEntry(EntryKind.STEP_DONE, "pg-1", {"step_id": "search"}, "hotel", "hotels-inc"),
        NewEntry(EntryKind.STEP_DONE, "pg-1", {"step_id": "book"}, "hotel", "hotels-inc"),
        NewEntry(EntryKind.TASK_STATUS, "pg-1", {"state": "completed"}),
        NewEntry(
            EntryKind.OUTCOME,
            "pg-1",
            {
                "value": "12.00",
                "currency": "EUR",
                "basis": "cpa",
                "components": [{"label": "book", "value": "12.00", "needs": [["hotel"]]}],
            },
        ),
        NewEntry(
            EntryKind.CREDIT_ALLOCATED,
            "pg-1",
            {"amount": "12.00", "currency": "EUR"},
            "hotel",
            "hotels-inc",
        ),
        NewEntry(
            EntryKind.PAYOUT, "pg-1", {"amount": "9.60", "currency": "EUR"}, None, "hotels-inc"
        ),
        NewEntry(EntryKind.PAYOUT, "pg-1", {"amount": "2.40", "currency": "EUR"}, None, "platform"),
    ]
    ledger.append_many(entries)

    index = LedgerIndex(ledger)
    assert index.refresh() == 9
    task = index.tasks["pg-1"]
    assert (task.status, task.value, task.steps_done, task.messages) == (
        "completed",
        Decimal("12.00"),
        2,
        1,
    )
    assert index.verification().ok
    detail = read_task(ledger, "pg-1")
    assert detail is not None
    assert [s.depends_on for s in detail.steps] == [(), ("search",)]
    assert [(c.agent, c.shapley, c.last_touch) for c in detail.credit] == [("hotel", 12.0, 12.0)]

    with TestClient(create_app(Ledger(ledger.engine))) as http:
        assert "a hotel in Lyon" in http.get("/tasks").text
        assert "12.00 EUR" in http.get("/tasks/pg-1").text
        assert "ok: 9 entries" in http.get("/economy").text
