"""The chaos suite's invariants, checked after every run on what it left behind (the
tasks' end states and recovery state, the vendors' booking records, the ledger), the same
way for the networked set-up (what its processes wrote) and in one process:

- every task ended completed or failed, or waits for the user;
- no booking was made twice (one confirmed booking per task and booking skill);
- no booking is left from a failed task (unless the user chose to keep it);
- a completed task holds its ticket and its hotel;
- every booking a task attempted is accounted for: it stood (a completed task), was
  undone, was kept at the user's word, or its undo is pending (its vendor away) and the
  orchestrator will retry it; nothing stays booked under an undone one's key; every undo
  is a ledger entry (`step.compensated`) with its outcome;
- the ledger's chain verifies, a task that did not complete is never paid, and payouts
  go only to the entities whose agents' steps stood (and the platform).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lamas.runtime.recovery import IdempotentResults
from lamas.runtime.recovery.durable import Attempt

VENDORS = ("railgo", "swiftrail", "staywell")
ENDS = {"completed", "failed", "input-required"}


def bookings_by_task(url: str) -> dict[tuple[str | None, str], list[str]]:
    """(task, booking skill) -> the keys of the confirmed bookings made for it."""
    booked: dict[tuple[str | None, str], list[str]] = {}
    for vendor in VENDORS:
        for served in IdempotentResults(vendor, url).all():
            if served.skill.endswith(".book") and served.status == "confirmed":
                booked.setdefault((served.task_id, served.skill), []).append(served.key)
    return booked


def check_invariants(
    states: Mapping[str, str],
    attempts: Mapping[str, Iterable[Attempt]],
    bookings: str,
    ledger: Any,
    entity: Mapping[str, str],
    *,
    to_retry: set[str] | None = None,
) -> None:
    """Assert every invariant (see the module) over the tasks in `states` (task id ->
    state), their booking `attempts`, the vendors' records in `bookings` (a database
    URL) and `ledger`. `entity`: agent id -> its entity. `to_retry`: the tasks the
    orchestrator's store lists for retrying a pending undo (None: it keeps no store)."""
    assert set(states.values()) <= ENDS, states
    booked = bookings_by_task(bookings)
    kept = {a.key for task in states for a in attempts.get(task, ()) if a.status == "kept"}
    for (task, skill), keys in booked.items():
        if task not in states:
            continue  # another run's task (a test may book by hand)
        assert len(keys) == 1, f"{skill} of task {task} booked twice: {keys}"
        if states[task] == "failed":
            assert set(keys) <= kept, f"{skill} left booked by failed task {task}"
    for task, state in states.items():
        if state == "completed":
            assert (task, "ticket.book") in booked, f"completed task {task} holds no ticket"
            assert (task, "hotel.book") in booked, f"completed task {task} holds no hotel"
    standing = {key for keys in booked.values() for key in keys}
    report = ledger.verify()
    assert report.ok, report
    for task, state in states.items():
        entries = list(ledger.entries(task_id=task))
        if state != "input-required":
            _check_attempts(task, state, attempts.get(task, ()), standing, entries, to_retry)
        _check_payouts(task, state, entries, entity)


def _check_attempts(
    task: str,
    state: str,
    attempts: Iterable[Attempt],
    standing: set[str],
    entries: list[Any],
    to_retry: set[str] | None,
) -> None:
    undone = {
        (e.payload["key"], e.payload["outcome"])
        for e in entries
        if e.kind.value == "step.compensated"
    }
    for attempt in attempts:
        ends = {"compensated", "pending"} | ({"stood"} if state == "completed" else {"kept"})
        assert attempt.status in ends, f"{attempt} of {state} task {task} left unresolved"
        outcomes = {outcome for key, outcome in undone if key == attempt.key}
        if attempt.status == "stood":
            assert attempt.key in standing, f"{attempt} of task {task} stood but is not booked"
        elif attempt.status == "kept":
            assert "kept" in outcomes, (task, attempt, undone)
        elif attempt.status == "pending":
            assert "pending" in outcomes, (task, attempt, undone)
            if to_retry is not None:
                assert task in to_retry, f"pending {attempt} of task {task} is never retried"
        else:
            assert attempt.key not in standing, f"undone {attempt} of task {task} still stands"
            assert outcomes & {"compensated", "nothing"}, (task, attempt, undone)


def _check_payouts(task: str, state: str, entries: list[Any], entity: Mapping[str, str]) -> None:
    paid = {e.entity for e in entries if e.kind.value == "payout"}
    if state != "completed":
        assert not paid, f"{state} task {task} paid {paid}"
        return
    # Paid: the entities whose steps stood, the live offers they were chosen among
    # (Shapley credit), and the platform; never a withdrawn or undone offer.
    stood = {"platform"}
    for e in entries:
        if e.kind.value == "step.done" and e.payload.get("ok", True):
            stood.add(str(e.entity))
            tally = (e.payload.get("consensus") or {}).get("tally", {})
            stood |= {entity[key.split(":", 1)[0]] for key in tally}
    # A booking that stood redeemed the traveller's vault fields: the vault's holder
    # (the user's personal agent, called by the vendor) earns its share (issue 19).
    if any(
        e.kind.value == "step.done" and ".book" in str(e.payload.get("step_id", ""))
        for e in entries
    ):
        stood.add(entity["personal"])
    assert paid <= stood, (task, paid, stood)
