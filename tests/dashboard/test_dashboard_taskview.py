"""A task's detail, read from its ledger entries: the plan, the messages, the votes, credit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import DemoLedger

from lamas.dashboard.taskview import read_task
from lamas.protocol.ledger import EntryKind


def test_the_travel_task_in_full(demo_ledger: DemoLedger) -> None:
    detail = read_task(demo_ledger.ledger, demo_ledger.task_id)
    assert detail is not None
    assert detail.status == "completed"
    assert detail.instruction.startswith("Book me a train from Paris to Lyon")
    plan = {s.id: s for s in detail.steps}
    assert set(plan) == {"ticket.search", "ticket.book", "hotel.search", "hotel.book"}
    assert plan["ticket.book"].depends_on == ("ticket.search",)
    assert plan["hotel.search"].depends_on == ()
    assert all(s.ok for s in detail.steps)
    assert plan["ticket.book"].agent == plan["ticket.search"].agent  # booked where searched

    entries = list(demo_ledger.ledger.entries(task_id=demo_ledger.task_id))
    assert len(detail.messages) == sum(1 for e in entries if e.kind is EntryKind.MESSAGE)
    assert [m.sent_at for m in detail.messages] == sorted(m.sent_at for m in detail.messages)
    # The vendors redeemed the traveller's details with the vault themselves: the
    # orchestrator was granted nothing and read nothing.
    assert detail.profile_requests
    assert {m.sender for m in detail.profile_requests} <= {"railgo", "swiftrail", "staywell"}
    reads = {e.agent for e in detail.privacy if e.kind.value == "vault.read"}
    assert reads == {plan["ticket.book"].agent, plan["hotel.book"].agent}
    assert all(e.agent != "orchestrator" for e in detail.privacy)

    (voted,) = detail.consensus_steps
    consensus = voted.consensus
    assert consensus is not None
    assert voted.id == "ticket.search"
    assert consensus["reached"] is True
    assert consensus["winner"].split(":", 1)[0] == voted.agent
    assert len(consensus["rounds"]) >= 1
    assert {b["voter"] for b in consensus["rounds"][-1]} == {"personal", "railgo", "swiftrail"}

    assert detail.value is not None
    credit = {row.agent: row for row in detail.credit}
    assert set(credit) == {"railgo", "swiftrail", "personal", "staywell"}
    assert sum(Decimal(str(r.shapley)) for r in credit.values()) == detail.value
    assert sum(r.equal for r in credit.values()) == pytest.approx(float(detail.value))
    assert all(r.equal == pytest.approx(float(detail.value) / 4) for r in credit.values())
    # Last touch: everything to whoever did the last step.
    assert sorted(r.last_touch for r in credit.values())[-1] == pytest.approx(float(detail.value))
    assert sum(detail.payouts.values()) == detail.value
    assert detail.platform_fee == detail.payouts["platform"]


def test_a_failed_task_and_an_unknown_one(demo_ledger: DemoLedger) -> None:
    failed = read_task(demo_ledger.ledger, demo_ledger.failed_id)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.instruction == "zzz qqq xxv"  # opened in the ledger though never planned
    assert failed.steps == []
    assert failed.status_message
    assert failed.credit == []
    assert read_task(demo_ledger.ledger, "no-such-task") is None
