"""Recovery on the travel network in one process: live-only choices, compensation,
idempotency keys, durable tasks and resume, admission. Real SQLite files for the
vendors' bookings and the orchestrator's task state; the scripted slot filler.

The separate-process chaos runs (SIGKILL) are in test_chaos_networked.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from support import invariants
from support.casestudy import EXAMPLES, TODAY, TRAVEL, scripted_slots

from lamas.agent.agent import Agent
from lamas.agent.embeddings import MiniLMEmbedder
from lamas.economy.ledger import platform_ledger
from lamas.errors import AgentUnreachable, DeadlineExceeded
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.protocol import Envelope, TaskState
from lamas.protocol.messages import Message
from lamas.runtime.ledger_hook import LedgerRecorder
from lamas.runtime.netfile import load, load_spec
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.recovery import (
    Admission,
    Backoff,
    Busy,
    IdempotentResults,
    Recovery,
    RetryPolicy,
    TaskStore,
)
from lamas.runtime.session import Event

pytestmark = pytest.mark.asyncio

NETWORK = EXAMPLES / "travel" / "network.yaml"
FAST = RetryPolicy(default=Backoff(attempts=3, initial=0.01, maximum=0.05, jitter=0.01))


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(autouse=True)
def bookings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    monkeypatch.setenv("LAMAS_TRAVEL_BOOKINGS", url)
    monkeypatch.setenv("LAMAS_DATABASE_URL", f"sqlite:///{tmp_path / 'lamas.db'}")
    return url


def travel(
    embedder: Any,
    *,
    store: TaskStore | None = None,
    responder: Any = scripted_slots,
    **options: Any,
) -> tuple[Orchestrator, list[Event]]:
    _, network = load(NETWORK, external=["orchestrator"])
    events: list[Event] = []
    recovery = Recovery(
        retry=FAST,
        store=store,
        compensation_retry=Backoff(attempts=3, initial=0.01, maximum=0.05),
        **options,
    )
    orchestrator = Orchestrator(
        network,
        ScriptedModel(responder=responder),
        embedder,
        today=TODAY,
        on_event=events.append,
        recovery=recovery,
    )
    card = next(a.card for a in load_spec(NETWORK).agents if a.card.id == "orchestrator")
    network.add(orchestrator.agent(card))
    LedgerRecorder(platform_ledger(), orchestrator)  # every run is recorded and settled
    return orchestrator, events


def dies_before(network: Any, skill: str) -> None:
    """The first agent asked for `skill` dies as the request is sent: the request fails
    as unreachable and the registry drops the agent."""
    original = network.transport.request
    dead: list[str] = []

    async def request(envelope: Envelope, *, timeout: float | None = None) -> Message:
        if envelope.skill == skill and not dead:
            dead.append(envelope.recipient)
            network.remove(envelope.recipient)
        if envelope.recipient not in network.transport:
            raise AgentUnreachable(envelope.recipient, "connection refused")
        return await original(envelope, timeout=timeout)

    network.transport.request = request


def check_invariants(
    orchestrator: Orchestrator, bookings: str, store: TaskStore | None = None
) -> None:
    """Every invariant of the suite (support/invariants.py) over `orchestrator`'s tasks,
    the vendors' bookings and the ledger, as the networked chaos runs check them."""
    states = {task: s.task.state.value for task, s in orchestrator.sessions.items()}
    attempts = {task: orchestrator.recovery.state(task).attempts for task in states}
    to_retry = None if store is None else {s.task.id for s, _ in store.pending("orchestrator")}
    entity = {a.card.id: a.card.entity for a in load_spec(NETWORK).agents}
    invariants.check_invariants(
        states, attempts, bookings, platform_ledger(), entity, to_retry=to_retry
    )


def confirmed(url: str) -> dict[tuple[str | None, str], list[str]]:
    """(task, booking skill) -> the agents holding a confirmed booking for it."""
    found: dict[tuple[str | None, str], list[str]] = {}
    for agent in ("railgo", "swiftrail", "staywell"):
        for served in IdempotentResults(agent, url).all():
            if served.skill.endswith(".book") and served.status == "confirmed":
                found.setdefault((served.task_id, served.skill), []).append(agent)
    return found


async def test_chaos_vendor_dropped_during_consensus_loses_its_offer_not_the_task(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    orchestrator, _ = travel(embedder)
    network = orchestrator.network
    dropped: list[str] = []

    def drop_when_asked_to_vote(envelope: Envelope) -> None:
        # Each rail vendor answered its search; now, as the vote starts, the one whose
        # offer the vote would pick dies (the registry drops it).
        if envelope.skill == "consensus.vote" and not dropped:
            for vendor in ("swiftrail", "railgo"):
                network.remove(vendor)
                dropped.append(vendor)
                break

    network.transport.observers.append(drop_when_asked_to_vote)
    session = await orchestrator.submit(TRAVEL)
    assert dropped
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    booked = session.runs["ticket.book"]
    assert booked.agent not in dropped
    assert booked.output["status"] == "confirmed"
    assert confirmed(bookings)[(session.task.id, "ticket.book")] == [booked.agent]
    check_invariants(orchestrator, bookings)


async def test_chaos_booking_vendor_gone_rechooses_the_live_offer_and_compensates_nothing_twice(
    embedder: MiniLMEmbedder, bookings: str, tmp_path: Path
) -> None:
    store = TaskStore(f"sqlite:///{tmp_path / 'tasks.db'}")
    orchestrator, events = travel(embedder, store=store)
    network = orchestrator.network
    killed: list[str] = []
    original = network.transport.request

    async def dies_at_booking(envelope: Envelope, *, timeout: float | None = None) -> Message:
        # The chosen vendor books, then dies before its reply gets back.
        reply = await original(envelope, timeout=timeout)
        if envelope.skill == "ticket.book" and not killed:
            killed.append(envelope.recipient)
            network.remove(envelope.recipient)
            raise AgentUnreachable(envelope.recipient, "connection reset")
        return reply

    network.transport.request = dies_at_booking  # type: ignore[method-assign]
    session = await orchestrator.submit(TRAVEL)
    assert killed
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["ticket.book"].agent not in killed
    # The booking the dead vendor made before it died is still in its records, under the
    # task's key; it is compensated once the vendor can be reached (here: never again),
    # and the compensation is recorded as pending meanwhile.
    outcomes = [e.data["outcome"] for e in events if e.kind == "compensated"]
    assert outcomes == ["pending"], outcomes
    standing = confirmed(bookings)
    assert standing[(session.task.id, "ticket.book")] == sorted(
        [session.runs["ticket.book"].agent, killed[0]]
    )
    # The pending undo is kept for the orchestrator to retry, though the task completed;
    # restarted with the vendor back, it goes through: one ticket stands.
    assert [s.task.id for s, _ in store.pending("orchestrator")] == [session.task.id]
    restarted, again = travel(embedder, store=store)
    await restarted.recovery.resume()
    assert [e.data["outcome"] for e in again if e.kind == "compensated"] == ["compensated"]
    assert store.pending("orchestrator") == []
    standing = confirmed(bookings)
    assert standing[(session.task.id, "ticket.book")] == [session.runs["ticket.book"].agent]
    check_invariants(restarted, bookings, store)


async def test_compensation_left_pending_is_retried_while_the_orchestrator_runs(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    """The chosen rail vendor books, then dies before its reply gets back; the task
    completes with the other vendor, and the dead one's booking cannot be undone yet
    (pending). Once it is back in the network, the running orchestrator's retry of
    pending compensations undoes it: no restart needed, one ticket stands, and the
    ledger holds one pending entry and one compensated entry for it, not one per try."""
    orchestrator, events = travel(embedder)
    network = orchestrator.network
    original = network.transport.request
    dead: list[Agent] = []

    async def dies_at_booking(envelope: Envelope, *, timeout: float | None = None) -> Message:
        reply = await original(envelope, timeout=timeout)
        if envelope.skill == "ticket.book" and not dead:
            vendor = envelope.recipient
            dead.append(Agent(network.card(vendor), network.transport.handler(vendor)))
            network.remove(vendor)
            raise AgentUnreachable(vendor, "connection reset")
        return reply

    network.transport.request = dies_at_booking  # type: ignore[method-assign]
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    (gone,) = dead
    assert await orchestrator.recovery.retry_pending() == 0  # its vendor is not back
    assert len(confirmed(bookings)[(session.task.id, "ticket.book")]) == 2
    network.add(gone)  # restarted
    assert await orchestrator.recovery.retry_pending() == 1
    assert await orchestrator.recovery.retry_pending() == 0  # nothing pending any more
    outcomes = [e.data["outcome"] for e in events if e.kind == "compensated"]
    assert outcomes == ["pending", "compensated"], outcomes
    assert confirmed(bookings)[(session.task.id, "ticket.book")] == [
        session.runs["ticket.book"].agent
    ]
    check_invariants(orchestrator, bookings)


async def test_chaos_booking_slower_than_its_deadline_is_retried_within_the_task_budget(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    """Under load a vendor may answer after the step's deadline: the booking is sent again
    under the same idempotency key while the task's budget lasts, and the vendor books
    once. (With one deadline for all tries, the first timeout ended the step: the task
    re-chose another vendor and left the slow one's late booking to undo.)"""
    orchestrator, events = travel(embedder, task_budget=30.0)
    orchestrator.step_timeout = 0.5
    network = orchestrator.network
    slowed: list[str] = []
    late: list[asyncio.Future[Message]] = []
    original = network.transport.request

    async def slow_once(envelope: Envelope, *, timeout: float | None = None) -> Message:
        if envelope.skill != "ticket.book" or slowed:
            return await original(envelope, timeout=timeout)
        slowed.append(envelope.recipient)

        async def books_late() -> Message:  # the vendor is busy; it books a second later
            await asyncio.sleep(1.0)
            return await original(envelope)

        late.append(asyncio.ensure_future(books_late()))
        done, _ = await asyncio.wait(late, timeout=timeout)
        if not done:
            raise DeadlineExceeded(envelope.recipient, timeout or 0.0)
        return late[0].result()

    network.transport.request = slow_once  # type: ignore[method-assign]
    session = await orchestrator.submit(TRAVEL)
    await late[0]  # the late request reaches the vendor too, under the same key
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["ticket.book"].agent == slowed[0]  # retried, not re-chosen
    assert orchestrator.recovery.retries >= 1
    assert [e for e in events if e.kind == "compensated"] == []
    assert confirmed(bookings)[(session.task.id, "ticket.book")] == [slowed[0]]
    booked = [
        s
        for s in IdempotentResults(slowed[0], bookings).all()
        if s.task_id == session.task.id and s.skill == "ticket.book"
    ]
    assert len(booked) == 1
    check_invariants(orchestrator, bookings)


async def test_chaos_only_hotel_dropped_for_a_while_the_step_waits_for_it_not_fails(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    """The registry drops the only hotel vendor for a moment (a loaded machine starved it
    of CPU past its health checks) just as the task reaches its hotel search: the step
    waits for a hotel to be back instead of failing with "no agent offers hotel.search"."""
    orchestrator, _ = travel(embedder, provider_wait=30.0)  # as when served with a registry
    network = orchestrator.network
    original = network.find
    hidden: list[float] = []

    def find(capability: str) -> Any:
        if capability == "hotel.search" and not hidden:
            hidden.append(asyncio.get_running_loop().time() + 1.0)  # back in 1 s
        if capability.startswith("hotel.") and asyncio.get_running_loop().time() < hidden[0]:
            return []
        return original(capability)

    network.find = find  # type: ignore[method-assign]
    session = await orchestrator.submit(TRAVEL)
    assert hidden, "the hotel search was reached"
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["hotel.search"].agent == "staywell"
    check_invariants(orchestrator, bookings)
    # Never back: the step fails after the wait, saying so (and the ticket is undone).
    gone, _ = travel(embedder, provider_wait=0.5)
    gone.network.find = lambda c: [] if c.startswith("hotel.") else original(c)  # type: ignore[method-assign]
    session = await gone.submit(TRAVEL)
    assert session.task.state is TaskState.FAILED
    assert "no agent offers hotel.search" in str(session.task.status_message)
    check_invariants(gone, bookings)


async def test_chaos_every_offer_suspected_after_it_was_made_is_not_nothing_found(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    """Both rail vendors answer the search, then another task's call to each fails (under
    load: a reset connection). Their offers are not all withdrawn as if the search had
    found nothing: they still compete, and the ticket is booked (the chosen vendor,
    suspected at booking time, is re-chosen like any vendor that stopped answering)."""
    orchestrator, _ = travel(embedder)
    network = orchestrator.network
    liveness = orchestrator.recovery.liveness
    suspected: list[str] = []
    original = network.transport.request

    async def suspected_after_search(
        envelope: Envelope, *, timeout: float | None = None
    ) -> Message:
        reply = await original(envelope, timeout=timeout)
        if envelope.skill == "ticket.search" and envelope.recipient not in suspected:
            suspected.append(envelope.recipient)
            reset = AgentUnreachable(envelope.recipient, "connection reset (another task)")
            asyncio.get_running_loop().call_soon(liveness.failed, envelope.recipient, reset)
        return reply

    network.transport.request = suspected_after_search  # type: ignore[method-assign]
    session = await orchestrator.submit(TRAVEL)
    assert sorted(suspected) == ["railgo", "swiftrail"]
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["ticket.book"].output["status"] == "confirmed"
    standing = confirmed(bookings)
    assert len(standing[(session.task.id, "ticket.book")]) == 1
    check_invariants(orchestrator, bookings)


async def test_chaos_only_hotel_unreachable_at_booking_once_is_asked_again_not_none(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    """The only hotel vendor cannot be reached when the hotel is booked (under load the
    registry dropped it for a moment): the choice is made again, and with no other hotel
    vendor it is asked again, not "no agent offers hotel.search"."""
    orchestrator, events = travel(embedder)
    network = orchestrator.network
    refused: list[str] = []
    original = network.transport.request

    async def refused_once(envelope: Envelope, *, timeout: float | None = None) -> Message:
        if envelope.skill == "hotel.book" and len(refused) < 3:  # every try of the round
            refused.append(envelope.recipient)
            raise AgentUnreachable(envelope.recipient, "connection refused")
        return await original(envelope, timeout=timeout)

    network.transport.request = refused_once  # type: ignore[method-assign]
    session = await orchestrator.submit(TRAVEL)
    assert refused == ["staywell"] * 3
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["hotel.book"].agent == "staywell"
    assert [e.data["rerun"] for e in events if e.kind == "routed" and "rerun" in e.data]
    assert len(confirmed(bookings)[(session.task.id, "hotel.book")]) == 1
    check_invariants(orchestrator, bookings)


async def test_chaos_only_hotel_dead_at_booking_is_waited_for_not_asked_again_and_again(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    """The only hotel vendor dies as the hotel is booked and a supervisor restarts it a
    moment later. The step waits for it to answer again (within the wait for a provider)
    instead of re-running its search at the dead vendor at once, which spent every
    re-choice in a fraction of a second and failed the task while the vendor restarted."""
    orchestrator, _ = travel(embedder, provider_wait=30.0)  # as when served with a registry
    liveness = orchestrator.recovery.liveness
    liveness.grace = 600  # it stays suspected until it is seen answering again
    network = orchestrator.network
    original = network.transport.request
    refused: list[str] = []
    back: list[bool] = []

    async def restarts(envelope: Envelope, *, timeout: float | None = None) -> Message:
        if envelope.recipient == "staywell" and not back:
            if envelope.skill == "hotel.book" and not refused:
                # killed now; its supervisor has it answering again 1.5 s later
                asyncio.get_running_loop().call_later(1.5, restarted)
            if envelope.skill != "hotel.cancel" and (refused or envelope.skill == "hotel.book"):
                refused.append(envelope.skill)
                raise AgentUnreachable("staywell", "connection refused")
        return await original(envelope, timeout=timeout)

    def restarted() -> None:
        back.append(True)
        liveness.answered("staywell")  # as a restart at a new address is taken live

    network.transport.request = restarts  # type: ignore[method-assign]
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert refused == ["hotel.book"] * 3  # one round of tries; no search sent while down
    assert orchestrator.recovery.state(session.task.id).rechosen == 1
    assert session.runs["hotel.book"].agent == "staywell"
    check_invariants(orchestrator, bookings)


async def test_chaos_vendor_down_at_booking_then_answering_another_task_still_rechooses(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    # Under load: the chosen vendor's last call failed (its offer is withdrawn as the
    # booking starts), and by the time the choice is made again another task's call has
    # found it answering. The task must still go to the other vendor, not fail.
    orchestrator, _ = travel(embedder)
    recovery = orchestrator.recovery
    original = recovery.live_providers
    suspected: list[str] = []

    def flaky(session: Any, step: Any, providers: list[str], affinity: str | None) -> Any:
        if step.capability != "ticket.book" or suspected or affinity is None:
            return original(session, step, providers, affinity)
        suspected.append(affinity)
        recovery.liveness.failed(affinity, AgentUnreachable(affinity, "timed out"))
        try:
            return original(session, step, providers, affinity)
        finally:
            recovery.liveness.answered(affinity)  # another task's call got an answer

    recovery.live_providers = flaky  # type: ignore[method-assign]
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    (withdrawn,) = suspected
    booked = session.runs["ticket.book"].agent
    assert booked is not None
    assert booked != withdrawn
    assert confirmed(bookings)[(session.task.id, "ticket.book")] == [booked]
    check_invariants(orchestrator, bookings)


async def test_chaos_every_vendor_suspected_a_moment_ago_is_still_asked_not_skipped(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    # Under load each rail vendor's last call timed out a moment ago (a vote, say): both
    # are still registered and answer. The search asks them rather than failing the step
    # with "no agent offers ticket.search".
    orchestrator, _ = travel(embedder)
    orchestrator.recovery.liveness.grace = 600  # still suspected when the search starts
    for vendor in ("railgo", "swiftrail"):
        orchestrator.recovery.liveness.failed(vendor, AgentUnreachable(vendor, "timed out"))
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["ticket.book"].output["status"] == "confirmed"
    check_invariants(orchestrator, bookings)


async def test_compensation_undoes_the_ticket_when_the_hotel_cannot_be_booked(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    orchestrator, events = travel(embedder)
    network = orchestrator.network

    dies_before(network, "hotel.book")
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.FAILED
    status = session.task.status_message
    assert status is not None
    assert "undone: ticket.book" in status.text, status
    compensated = [e.data for e in events if e.kind == "compensated"]
    assert [c["skill"] for c in compensated if c["outcome"] == "compensated"] == ["ticket.cancel"]
    # The ledger holds the compensation, and the failed task paid nobody.
    entries = list(platform_ledger().entries(task_id=session.task.id))
    undone = [e for e in entries if e.kind.value == "step.compensated"]
    outcomes = {e.payload["skill"]: e.payload["outcome"] for e in undone}
    # The hotel chain never came back: its compensation waits, recorded as pending.
    assert outcomes == {"ticket.cancel": "compensated", "hotel.cancel": "pending"}
    assert not [e for e in entries if e.kind.value == "payout"]
    assert platform_ledger().verify().ok
    # Nothing of the failed task stays booked.
    assert (session.task.id, "ticket.book") not in confirmed(bookings)
    check_invariants(orchestrator, bookings)


async def test_compensation_asks_the_user_when_a_booking_is_worth_keeping_alone(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    orchestrator, _ = travel(embedder)
    network = orchestrator.network
    # The rail vendors' cards say a ticket is worth keeping alone.
    for vendor in ("railgo", "swiftrail"):
        card = network.card(vendor)
        skills = tuple(
            s.model_copy(update={"keep_alone": True}) if s.name == "ticket.book" else s
            for s in card.skills
        )
        network._cards[vendor] = card.model_copy(update={"skills": skills})

    dies_before(network, "hotel.book")
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.INPUT_REQUIRED
    assert session.question is not None
    assert "Keep ticket.book" in session.question
    session = await orchestrator.answer(session.task.id, "yes")
    assert session.task.state is TaskState.FAILED
    assert session.task.status_message is not None
    assert "kept at your word" in session.task.status_message.text
    assert (session.task.id, "ticket.book") in confirmed(bookings)  # kept, as asked
    check_invariants(orchestrator, bookings)


async def test_idempotent_booking_under_one_key_is_made_once_even_after_a_restart(
    bookings: str,
) -> None:
    calls: list[int] = []

    async def book() -> dict[str, Any]:
        calls.append(1)
        await asyncio.sleep(0.01)
        return {"booking_id": f"B-{len(calls)}", "price": 10.0}

    first = IdempotentResults("railgo", bookings)
    # Concurrent repeats (a retry racing the original) wait for the first.
    results = await asyncio.gather(
        *(first.once("t1:ticket.book", "ticket.book", "t1", book) for _ in range(5))
    )
    assert {r["booking_id"] for r in results} == {"B-1"}
    # The vendor restarts: its records are in the store, not in its memory.
    again = IdempotentResults("railgo", bookings)
    assert (await again.once("t1:ticket.book", "ticket.book", "t1", book))["booking_id"] == "B-1"
    assert len(calls) == 1
    # Cancelling twice undoes once; a booking asked after its own cancel is refused.
    assert again.cancel("t1:ticket.book", "ticket.cancel", "t1") is not None
    assert again.get("t1:ticket.book").status == "cancelled"  # type: ignore[union-attr]
    assert again.cancel("t2:ticket.book", "ticket.cancel", "t2") is None  # a tombstone
    from lamas.runtime.recovery import AlreadyCancelled

    with pytest.raises(AlreadyCancelled):
        await again.once("t2:ticket.book", "ticket.book", "t2", book)
    assert len(calls) == 1


async def test_idempotency_key_reused_with_other_data_is_refused_not_answered_with_the_first(
    bookings: str,
) -> None:
    from lamas.runtime.recovery import IdempotencyConflict

    calls: list[str] = []

    async def book() -> dict[str, Any]:
        calls.append("booked")
        return {"booking_id": f"B-{len(calls)}"}

    key = "t1:ticket.book"
    first = IdempotentResults("railgo", bookings)
    made = await first.once(key, "ticket.book", "t1", book, request={"offer_id": "RG-1"})
    again = IdempotentResults("railgo", bookings)  # after a restart: the binding is stored
    with pytest.raises(IdempotencyConflict, match="already used for a different request"):
        await again.once(key, "ticket.book", "t1", book, request={"offer_id": "RG-2"})
    with pytest.raises(IdempotencyConflict, match=r"ticket\.book, not hotel\.book"):
        await again.once(key, "hotel.book", "t1", book, request={"offer_id": "RG-1"})
    # The same request (key order does not matter) still gets the first result.
    same = await again.once(key, "ticket.book", "t1", book, request={"offer_id": "RG-1"})
    assert same == made
    assert calls == ["booked"]


async def test_idempotency_table_of_an_earlier_version_gains_the_digest_column(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # the table as the first version made it
        old.execute(
            "CREATE TABLE idempotent_results (agent_id VARCHAR(128), key VARCHAR(300), "
            "skill VARCHAR(128) NOT NULL, task_id VARCHAR(128), ref VARCHAR(128) NOT NULL, "
            "result TEXT NOT NULL, status VARCHAR(32) NOT NULL, created_at FLOAT NOT NULL, "
            "PRIMARY KEY (agent_id, key))"
        )
        old.execute(
            "INSERT INTO idempotent_results VALUES ('railgo', 'k', 'ticket.book', 't', "
            "'B-0', '{\"booking_id\": \"B-0\"}', 'confirmed', 0)"
        )
    served = IdempotentResults("railgo", f"sqlite:///{path}")

    async def book() -> dict[str, Any]:
        raise AssertionError("an old booking is never made again")

    # An old record binds no data: its key is answered as before.
    old_booking = await served.once("k", "ticket.book", "t", book, request={"offer_id": "X"})
    assert old_booking == {"booking_id": "B-0"}
    served_new = await served.once(
        "k2", "ticket.book", "t", _booked("B-1"), request={"offer_id": "Y"}
    )
    assert served_new["booking_id"] == "B-1"
    assert served.get("k2").digest is not None  # type: ignore[union-attr]


def _booked(booking_id: str) -> Any:
    async def book() -> dict[str, Any]:
        return {"booking_id": booking_id}

    return book


async def test_idempotency_key_of_a_booking_sent_again_with_another_offer_is_refused(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    # As an attacker (or a confused client): a real booking's key, another offer.
    from lamas.runtime.recovery.idempotency import with_key

    orchestrator, _ = travel(embedder)
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED
    run = session.runs["ticket.book"]
    key = f"{session.task.id}:ticket.book"
    # The same train of the same vendor, a day later: a real offer, another request.
    other = run.output["offer_id"].rsplit(":", 1)[0] + ":2026-12-05"

    async def book(offer_id: str) -> Message:
        return await orchestrator.network.transport.request(
            Envelope(
                sender="orchestrator",
                recipient=str(run.agent),
                skill="ticket.book",
                task_id=session.task.id,
                message=with_key(Message.of_data({"offer_id": offer_id}), key),
            )
        )

    with pytest.raises(Exception, match="already used for a different request"):
        await book(other)
    tickets = [
        s
        for s in IdempotentResults(str(run.agent), bookings).all()
        if s.task_id == session.task.id and s.skill == "ticket.book"
    ]
    assert [(t.key, t.result["offer_id"]) for t in tickets] == [(key, run.output["offer_id"])]
    # The same offer again is the first booking, not a second one.
    assert (await book(run.output["offer_id"])).data["booking_id"] == run.output["booking_id"]
    check_invariants(orchestrator, bookings)


async def test_idempotency_key_reaches_the_vendor_and_cancel_refunds_once(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    orchestrator, _ = travel(embedder)
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED
    run = session.runs["ticket.book"]
    key = f"{session.task.id}:ticket.book"
    served = IdempotentResults(str(run.agent), bookings).get(key)
    assert served is not None
    assert served.result["booking_id"] == run.output["booking_id"]
    check_invariants(orchestrator, bookings)  # before the cancels made by hand below
    network = orchestrator.network

    async def cancel() -> dict[str, Any]:
        reply = await network.transport.request(
            Envelope(
                sender="orchestrator",
                recipient=str(run.agent),
                skill="ticket.cancel",
                message=Message.of_data({"booking_id": run.output["booking_id"]}),
            )
        )
        return reply.data

    first, second = await cancel(), await cancel()
    assert first["status"] == "cancelled"
    assert first["refund"] == run.output["price"]
    assert "already cancelled" in second["note"]
    with pytest.raises(Exception, match="no booking"):
        await network.transport.request(
            Envelope(
                sender="orchestrator",
                recipient=str(run.agent),
                skill="ticket.cancel",
                message=Message.of_data({"booking_id": "NOPE-1"}),
            )
        )


async def test_resume_after_a_crash_mid_booking_completes_without_booking_twice(
    embedder: MiniLMEmbedder, bookings: str, tmp_path: Path
) -> None:
    store = TaskStore(f"sqlite:///{tmp_path / 'tasks.db'}")
    first, _ = travel(embedder, store=store)

    class Crash(BaseException):
        """The process dies: nothing after this runs (not even the orchestrator's except)."""

    original = first.network.transport.request

    async def crash_after_hotel_booked(
        envelope: Envelope, *, timeout: float | None = None
    ) -> Message:
        reply = await original(envelope, timeout=timeout)
        if envelope.skill == "hotel.book":
            raise Crash  # the hotel booked; its reply never got back
        return reply

    first.network.transport.request = crash_after_hotel_booked  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await first.submit(TRAVEL)
    (task_id,) = store.states()
    assert store.states()[task_id] == "working"
    # A new process on the same store: the task resumes from its last step.
    second, _ = travel(embedder, store=store)
    resumed = await second.recovery.resume()
    assert [s.task.id for s in resumed] == [task_id]
    session = second.sessions[task_id]
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert store.states()[task_id] == "completed"
    standing = confirmed(bookings)
    assert len(standing[(task_id, "hotel.book")]) == 1  # the vendor gave back its booking
    assert len(standing[(task_id, "ticket.book")]) == 1
    check_invariants(second, bookings, store)


async def test_resume_keeps_an_input_required_task_waiting_across_a_restart(
    embedder: MiniLMEmbedder, bookings: str, tmp_path: Path
) -> None:
    def no_date_until_told(messages: list[ChatMessage], schema: dict[str, Any] | None) -> Any:
        answer = dict(scripted_slots(messages, schema))
        told = any("December 4" in m.content for m in messages)
        for name in ("date", "check_in"):
            if name in answer:
                answer[name] = "2026-12-04" if told else None
        return answer

    store = TaskStore(f"sqlite:///{tmp_path / 'tasks.db'}")
    first, _ = travel(embedder, store=store, responder=no_date_until_told)
    session = await first.submit(TRAVEL.replace(" on December 4", ""))
    assert session.task.state is TaskState.INPUT_REQUIRED, session.task.status_message
    second, _ = travel(embedder, store=store, responder=no_date_until_told)
    await second.recovery.resume()
    waiting = second.sessions[session.task.id]
    assert waiting.task.state is TaskState.INPUT_REQUIRED
    done = await second.answer(session.task.id, "December 4")
    assert done.task.state is TaskState.COMPLETED, done.task.status_message
    assert done.runs["ticket.book"].output["status"] == "confirmed"
    check_invariants(second, bookings, store)


async def test_chaos_load_queues_and_refuses_at_the_edge_never_midway(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    orchestrator, _ = travel(embedder, admission=Admission(max_active=4, max_waiting=8))
    outcomes = await asyncio.gather(
        *(orchestrator.submit(TRAVEL) for _ in range(20)), return_exceptions=True
    )
    busy = [o for o in outcomes if isinstance(o, Busy)]
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(busy) == 8, outcomes
    assert len(done) == 12, outcomes
    assert all(s.task.state is TaskState.COMPLETED for s in done)
    assert all(b.retry_after >= 1 and "busy, retry after" in str(b) for b in busy)
    check_invariants(orchestrator, bookings)


async def test_chaos_vendor_dead_before_its_search_leaves_the_task_to_the_other(
    embedder: MiniLMEmbedder, bookings: str
) -> None:
    orchestrator, _ = travel(embedder)
    dies_before(orchestrator.network, "ticket.search")
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["ticket.book"].output["status"] == "confirmed"
    check_invariants(orchestrator, bookings)


async def test_compensation_left_pending_is_retried_when_the_orchestrator_restarts(
    embedder: MiniLMEmbedder, bookings: str, tmp_path: Path
) -> None:
    store = TaskStore(f"sqlite:///{tmp_path / 'tasks.db'}")
    first, _ = travel(embedder, store=store)
    dies_before(first.network, "hotel.book")
    session = await first.submit(TRAVEL)
    assert session.task.state is TaskState.FAILED
    assert "could not undo yet" in str(session.task.status_message)
    assert [s.task.id for s, _ in store.pending("orchestrator")] == [session.task.id]
    # Restarted, with the hotel chain back: the pending compensation goes through.
    second, events = travel(embedder, store=store)
    await second.recovery.resume()
    assert [e.data["skill"] for e in events if e.kind == "compensated"] == ["hotel.cancel"]
    assert store.pending("orchestrator") == []
    check_invariants(second, bookings, store)
