"""The dashboard's read model: its figures are the ledger's, it reads only what is new,
and it notices a tampered chain."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from conftest import DemoLedger

from lamas.dashboard.index import LedgerIndex
from lamas.economy.ledger import Ledger
from lamas.protocol.ledger import EntryKind, StepDone, TaskOpened, TaskStatus
from lamas.security.identity import PrivateKey
from lamas.store import create_engine


def test_figures_equal_the_ledgers(demo_ledger: DemoLedger) -> None:
    ledger = demo_ledger.ledger
    index = LedgerIndex(ledger)
    index.refresh()
    entries = list(ledger.entries())
    assert index.last == entries[-1].sequence

    shown, matched = index.task_list()
    assert matched == 3  # traffic is not a task
    assert {t.id for t in shown} == {
        demo_ledger.task_id,
        demo_ledger.waiting_id,
        demo_ledger.failed_id,
    }
    travel = index.tasks[demo_ledger.task_id]
    outcome = next(
        e for e in entries if e.task_id == demo_ledger.task_id and e.kind is EntryKind.OUTCOME
    )
    assert travel.value == Decimal(outcome.payload["value"]) > 0
    assert travel.status == "completed"
    assert (travel.steps_done, travel.steps_total) == (4, 4)
    messages = [
        e for e in entries if e.task_id == demo_ledger.task_id and e.kind is EntryKind.MESSAGE
    ]
    assert travel.messages == len(messages) > 10
    assert index.tasks[demo_ledger.waiting_id].status == "input-required"
    assert index.tasks[demo_ledger.failed_id].status == "failed"

    earned: dict[str, Decimal] = defaultdict(Decimal)
    from_traffic: dict[str, Decimal] = defaultdict(Decimal)
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if entry.kind is EntryKind.CREDIT_ALLOCATED and entry.agent:
            # a traffic conversion's outcome is keyed "batch/journey": its credit apart
            kept = from_traffic if "/" in entry.task_id else earned
            kept[entry.agent] += Decimal(entry.payload["amount"])
        if entry.kind is EntryKind.PAYOUT and entry.entity:
            paid[entry.entity] += Decimal(entry.payload["amount"])
    assert {a: s.credit for a, s in index.agents.items() if s.credit} == {
        a: v for a, v in earned.items() if v
    }
    assert {a: s.traffic_credit for a, s in index.agents.items() if s.traffic_credit} == {
        a: v for a, v in from_traffic.items() if v
    }
    assert from_traffic, "the demo ledger has traffic: the split is tested"
    assert {e: sum(days.values()) for e, days in index.payouts.items()} == dict(paid)
    assert index.traffic_outcomes > 0

    report = index.verification()
    assert report.ok
    assert report.entries == len(entries)


def test_search_and_filters(demo_ledger: DemoLedger) -> None:
    index = LedgerIndex(demo_ledger.ledger)
    index.refresh()
    assert [t.id for t in index.task_list(query="lyon PART-DIEU")[0]] == [demo_ledger.task_id]
    assert [t.id for t in index.task_list(status="failed")[0]] == [demo_ledger.failed_id]
    assert [t.id for t in index.task_list(agent="staywell")[0]] == [demo_ledger.task_id]
    assert index.task_list(query="no such words")[1] == 0


def test_reads_only_new_entries_and_follows_a_task_as_it_runs(tmp_path: Path) -> None:
    ledger = Ledger(create_engine(f"sqlite:///{tmp_path / 'l.db'}"), PrivateKey.generate())
    index = LedgerIndex(ledger)
    assert index.refresh() == 0
    steps = [{"id": "a", "capability": "x.do"}, {"id": "b", "capability": "x.do"}]
    ledger.append(
        EntryKind.TASK_OPENED, task_id="t1", payload=TaskOpened(instruction="hi", steps=steps)
    )
    assert index.refresh() == 1
    assert index.refresh() == 0
    mark = index.last
    assert (index.tasks["t1"].steps_done, index.tasks["t1"].steps_total) == (0, 2)
    ledger.append(EntryKind.STEP_DONE, task_id="t1", agent="w", payload=StepDone(step_id="a"))
    ledger.append(
        EntryKind.STEP_DONE, task_id="t1", agent="w", payload=StepDone(step_id="b", ok=False)
    )
    ledger.append(EntryKind.TASK_STATUS, task_id="t1", payload=TaskStatus(state="failed"))
    assert index.refresh() == 3
    assert [t.id for t in index.changed_since(mark)] == ["t1"]
    assert index.changed_since(index.last) == []
    task = index.tasks["t1"]
    assert (task.steps_done, task.steps_failed, task.status) == (2, 1, "failed")
    assert index.agents["w"].success_rate == 0.5


def test_a_tampered_entry_is_named(demo_ledger: DemoLedger, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    source = demo_ledger.url.removeprefix("sqlite:///")
    with sqlite3.connect(source) as conn:  # a consistent copy of the WAL database
        conn.execute(f"VACUUM INTO '{copy}'")
    ledger = Ledger(create_engine(f"sqlite:///{copy}"))
    index = LedgerIndex(ledger)
    index.refresh()
    assert index.verification().ok
    with sqlite3.connect(copy) as conn:
        conn.execute(
            "UPDATE ledger_entries SET payload = replace(payload, '\"ok\":true', '\"ok\":false') "
            "WHERE sequence = (SELECT min(sequence) FROM ledger_entries WHERE kind = 'step.done')"
        )
        bad = conn.execute(
            "SELECT min(sequence) FROM ledger_entries WHERE kind = 'step.done'"
        ).fetchone()[0]
    # The running check passed that entry when it was read; a full re-check names it ...
    assert index.verification().ok
    full = index.reverify()
    assert not full.ok
    assert full.problem is not None
    assert full.problem.sequence == bad
    assert index.verification() == full
    # ... and a fresh index names it at once.
    fresh = LedgerIndex(Ledger(create_engine(f"sqlite:///{copy}")))
    fresh.refresh()
    problem = fresh.verification().problem
    assert problem is not None
    assert problem.sequence == bad
