"""Every step of every orchestrated task leaves an experience record, with its credit."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from helpers import TRAVEL, music, travel  # tests/experience is on the path

from lamas.agent.embeddings import MiniLMEmbedder
from lamas.economy.ledger import Ledger
from lamas.experience.store import ExperienceStore
from lamas.protocol.tasks import TaskState
from lamas.runtime.experience_hook import ExperienceRecorder
from lamas.runtime.faults import inject_faults
from lamas.runtime.ledger_hook import LedgerRecorder
from lamas.runtime.router import ExperienceRouter
from lamas.security.identity import PrivateKey
from lamas.store import create_engine


async def test_each_step_is_recorded_with_strategy_interactions_cost_and_credit(
    minilm: MiniLMEmbedder, tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    orchestrator = travel(minilm)
    ledger = LedgerRecorder(Ledger(engine, PrivateKey.generate()), orchestrator)
    store = ExperienceStore(engine)
    recorder = ExperienceRecorder(store, orchestrator, ledger=ledger)

    session = await orchestrator.submit(TRAVEL)

    assert session.task.state is TaskState.COMPLETED
    records = store.records(task_id=session.task.id)
    assert session.plan is not None
    assert {r.step_id for r in records} == {s.id for s in session.plan.steps}
    assert recorder.written == len(records) == 4
    by_capability = {r.capability: r for r in records}
    search = by_capability["ticket.search"]
    assert search.instruction == TRAVEL
    assert search.strategy.selection == "consensus"  # two rail vendors competed
    book = by_capability["ticket.book"]
    assert book.agent == search.agent  # booked with the vendor whose offer won
    assert book.strategy.selection == "only"
    # The booking agent redeemed the passenger's sealed refs with the personal agent's
    # vault and logged it.
    assert "vault.redeem" in book.strategy.tools
    assert any(i.recipient == "personal" for i in book.interactions)
    assert book.resources.cost > 0  # its own list price at least
    assert all(r.outcome.ok for r in records)
    # The orchestrator's slot filling is counted on the steps whose inputs it filled.
    assert search.resources.prompt_tokens > 0
    assert search.resources.completion_tokens > 0
    assert book.resources.prompt_tokens == 0  # its inputs came from the search
    assert search.filled == {
        "origin": "Paris",
        "destination": "Lyon",
        "date": "2026-12-04",
        "time_of_day": "morning",
    }
    assert book.filled == {}
    assert "offer_id" in book.inputs
    # Settled: every step's agent got its share of the Shapley credit.
    settlement = ledger.settlements[session.task.id]
    for agent, share in settlement.shares.items():
        mine = [r.credit for r in records if r.agent == agent]
        if mine:
            assert all(c is not None for c in mine)
            total = sum((c for c in mine if c is not None), Decimal(0))
            assert abs(float(total) - share) < 0.01


async def test_a_failed_step_is_recorded_and_teaches_the_router(
    minilm: MiniLMEmbedder, tmp_path: Path
) -> None:
    store = ExperienceStore(create_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    router = ExperienceRouter(seed=1)
    orchestrator = travel(minilm, selector=router)
    recorder = ExperienceRecorder(store, orchestrator)
    recorder.on_record.append(router.observe)
    for vendor in ("railgo", "swiftrail"):
        inject_faults(orchestrator.network, vendor, "ticket.book", 1.0)

    session = await orchestrator.submit(TRAVEL)

    assert session.task.state is TaskState.FAILED
    failed = store.records(task_id=session.task.id, ok=False)
    assert [r.capability for r in failed] == ["ticket.book"]
    assert "injected fault" in (failed[0].outcome.error or "")
    assert failed[0].strategy.selection == "only"
    chosen = store.records(task_id=session.task.id, capability="ticket.search")[0]
    assert chosen.strategy.selection == "bandit"
    assert router.bandit.arm("ticket.book", failed[0].agent).failures == 1


async def test_replicas_settled_by_consensus_play_the_chosen_song(minilm: MiniLMEmbedder) -> None:
    """A replica's reply has no "offers": the winning reply's best song is the output."""
    orchestrator = music(minilm)
    session = await orchestrator.submit("Play some relaxing jazz")
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    runs = {run.step.capability: run for run in session.runs.values()}
    search, play = runs["song.search"], runs["song.play"]
    assert search.agent in ("songs-1", "songs-2")
    assert "song_id" in search.output
    assert play.agent == search.agent


async def test_the_router_learns_to_avoid_a_faulty_replica(
    minilm: MiniLMEmbedder, tmp_path: Path
) -> None:
    store = ExperienceStore(create_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    router = ExperienceRouter(seed=2)
    orchestrator = music(minilm, replicas=3, selector=router)
    ExperienceRecorder(store, orchestrator).on_record.append(router.observe)
    inject_faults(orchestrator.network, "songs-2", "song.play", 1.0)
    states = [(await orchestrator.submit("Play some relaxing jazz")).task.state for _ in range(20)]
    assert states[-10:].count(TaskState.COMPLETED) >= 9
    plays = store.records(capability="song.play")
    assert {r.agent for r in plays if not r.outcome.ok} == {"songs-2"}
    assert sum(r.agent == "songs-2" for r in plays[-10:]) <= 1
