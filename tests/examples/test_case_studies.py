"""Both case studies end to end: the orchestrator over the example networks.

Routing uses the real MiniLM embedder; slot filling uses the scripted model (fast and
exact), except in the `model`-marked tests, which run the embedded model.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from support.casestudy import EXAMPLES, SLOTS, TODAY, TRAVEL, build, scripted_slots

from lamas.agent.embeddings import MiniLMEmbedder
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.protocol import TaskState


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return MiniLMEmbedder()


def profile_values(name: str) -> list[str]:
    """Every string in a personal profile (the canaries the orchestrator must not see)."""
    data = json.loads((EXAMPLES / name / "data" / "profile.json").read_text())
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and len(value) > 4:
            found.append(value)

    walk(data)
    return found


async def test_travel_books_train_and_hotel_without_the_orchestrator_seeing_the_profile(
    embedder: MiniLMEmbedder,
) -> None:
    orchestrator, seen = build("travel", "orchestrator", embedder)
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.plan is not None
    assert [s.capability for s in session.plan.steps] == [
        "ticket.search",
        "ticket.book",
        "hotel.search",
        "hotel.book",
    ]
    search = session.runs["ticket.search"]
    assert search.decision is not None  # two competing vendors: settled by consensus
    assert search.agent in {"railgo", "swiftrail"}
    assert session.runs["ticket.book"].agent == search.agent
    assert session.runs["ticket.book"].output["status"] == "confirmed"
    assert session.runs["hotel.search"].inputs["check_in"] == "2026-12-04"  # carried over
    assert session.runs["hotel.book"].output["status"] == "confirmed"
    # The vault granted each booking step its fields as sealed refs, the orchestrator passed
    # them on, and the vendors redeemed them with the vault themselves ...
    grants = [e for e in seen if e.skill == "vault.grant"]
    assert sorted(e.message.data["agent"] for e in grants) == sorted(
        [session.runs["ticket.book"].agent, "staywell"]
    )
    assert all(e.sender == "orchestrator" for e in grants)
    redeemed = [e for e in seen if e.skill == "vault.redeem"]
    assert sorted(e.sender for e in redeemed) == sorted(
        [session.runs["ticket.book"].agent, "staywell"]
    )
    # (the request carries the refs and the one-time key the values come back sealed to)
    assert all(e.message.sealed_refs and set(e.message.data) == {"seal_to"} for e in redeemed)
    assert not [e for e in seen if e.skill == "profile.get"]
    # ... and no profile value is in anything it sent or got back.
    everything = json.dumps(
        [e.model_dump(mode="json") for e in seen if "orchestrator" in (e.sender, e.recipient)]
    ) + json.dumps([run.output for run in session.runs.values()])
    for canary in profile_values("travel"):
        assert canary not in everything


async def test_travel_asks_back_when_the_date_is_missing(embedder: MiniLMEmbedder) -> None:
    orchestrator, _ = build("travel", "orchestrator", embedder)
    SLOTS_NO_DATE = {**SLOTS["ticket.search"], "date": None}

    def responder(messages: list[ChatMessage], schema: dict[str, Any] | None) -> dict[str, Any]:
        prompt = messages[-1].content
        if "2026-12-05" in prompt or "December 5" in prompt:
            return {**SLOTS_NO_DATE, "date": "2026-12-05"}
        return SLOTS_NO_DATE

    orchestrator.filler.model = ScriptedModel(responder=responder)
    session = await orchestrator.submit("Find trains from Paris to Lyon in the morning")
    assert session.task.state is TaskState.INPUT_REQUIRED
    assert session.question is not None
    assert "date" in session.question
    session = await orchestrator.answer(session.task.id, "on December 5")
    assert session.task.state is TaskState.COMPLETED
    assert session.runs["ticket.search"].output["depart"].startswith("2026-12-05")


async def test_music_is_centralized_the_orchestrator_reads_the_profile(
    embedder: MiniLMEmbedder,
) -> None:
    orchestrator, seen = build(
        "music", "music-orchestrator", embedder, profile_fields=("favourite_genres",)
    )
    session = await orchestrator.submit("Play some relaxing jazz")
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert [s.capability for s in session.plan.steps] == ["song.search", "song.play"]  # type: ignore[union-attr]
    assert "now_playing" in session.runs["song.play"].output
    # The centralized orchestrator itself asked the personal agent for the profile.
    assert any(e.sender == "music-orchestrator" and e.skill == "profile.get" for e in seen)


async def demo(name: str, model_name: str) -> Any:
    from rich.console import Console

    from lamas.cli.demo import run_demo

    return await run_demo(
        name,
        None,
        model_name=model_name,
        answers=[],
        today=TODAY,
        console=Console(file=io.StringIO()),
        interactive=False,
    )


@pytest.mark.model
async def test_travel_demo_on_the_test_model_degrades_gracefully() -> None:
    """The 135M model fills slots badly: the task must still end cleanly (done, or a
    question back), never crash."""
    session = await demo("travel", "smollm2-135m")
    assert session.task.state in {TaskState.COMPLETED, TaskState.INPUT_REQUIRED, TaskState.FAILED}
    assert session.plan is not None
    assert {"ticket.book", "hotel.book"} <= {s.capability for s in session.plan.steps}


@pytest.mark.model
async def test_music_demo_on_the_test_model() -> None:
    session = await demo("music", "smollm2-135m")
    assert session.task.state in {TaskState.COMPLETED, TaskState.INPUT_REQUIRED}
    assert session.plan is not None


@pytest.mark.slow
@pytest.mark.parametrize("name", ["travel", "music"])
async def test_demo_on_the_demo_model_completes_within_a_minute(name: str) -> None:
    session = await demo(name, "qwen2.5-coder-1.5b")
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.seconds < 60


async def test_travel_follow_up_changes_the_train_and_keeps_the_hotel(
    embedder: MiniLMEmbedder,
) -> None:
    orchestrator, _ = build("travel", "orchestrator", embedder)

    def responder(messages: list[ChatMessage], schema: dict[str, Any] | None) -> dict[str, Any]:
        slots = scripted_slots(messages, schema)
        request = messages[-1].content.rsplit("Request:", 1)[-1]
        if "9 o'clock" in request and "depart_at" in slots:
            slots["depart_at"] = "09:00"
        return slots

    orchestrator.filler.model = ScriptedModel(responder=responder)
    first = await orchestrator.submit(TRAVEL)
    assert first.task.state is TaskState.COMPLETED
    first_train = first.runs["ticket.book"].output["depart"]
    hotel_booking = first.runs["hotel.book"]
    again = await orchestrator.submit(
        "make it the 9 o'clock one instead", context_id=first.task.context_id
    )
    assert again.task.state is TaskState.COMPLETED, again.task.status_message
    booked = again.runs["ticket.book"].output["depart"]
    assert booked != first_train
    departs = dt.datetime.fromisoformat(booked)
    assert abs(departs.hour * 60 + departs.minute - 9 * 60) <= 30
    assert again.runs["hotel.book"] is hotel_booking  # the hotel was not booked twice


async def test_travel_task_is_written_to_the_ledger_and_settled(
    embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    from decimal import Decimal

    from lamas.economy.ledger import Ledger
    from lamas.protocol.ledger import EntryKind
    from lamas.runtime.ledger_hook import LedgerRecorder
    from lamas.security.identity import PrivateKey
    from lamas.store import create_engine

    orchestrator, _ = build("travel", "orchestrator", embedder)
    ledger = Ledger(create_engine(f"sqlite:///{tmp_path / 'ledger.db'}"), PrivateKey.generate())
    recorder = LedgerRecorder(ledger, orchestrator, commission=Decimal("0.10"))
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED
    entries = list(ledger.entries(task_id=session.task.id))
    kinds = [e.kind for e in entries]
    assert kinds[0] == EntryKind.TASK_OPENED
    assert kinds.count(EntryKind.STEP_DONE) == 4
    outcome = next(e for e in entries if e.kind == EntryKind.OUTCOME)
    train = Decimal(str(session.runs["ticket.book"].output["price"]))
    hotel = Decimal(str(session.runs["hotel.book"].output["total"]))
    assert Decimal(outcome.payload["value"]) == ((train + hotel) * Decimal("0.10")).quantize(
        Decimal("0.01")
    )
    assert len(outcome.payload["components"]) == 2
    settlement = recorder.settlements[session.task.id]
    shares = settlement.shares
    chosen = session.runs["ticket.book"].agent
    loser = ({"railgo", "swiftrail"} - {chosen}).pop()
    assert shares[loser] == pytest.approx(0.0)
    assert shares["personal"] > shares["staywell"] > shares[chosen]  # needed for both bookings
    payouts = [e for e in entries if e.kind == EntryKind.PAYOUT]
    assert sum(Decimal(p.payload["amount"]) for p in payouts) == Decimal(outcome.payload["value"])
    assert ledger.verify().ok


async def test_counterfactual_credit_replays_the_task_without_each_agent(
    embedder: MiniLMEmbedder,
) -> None:
    from decimal import Decimal

    from lamas.protocol.credit import shapley
    from lamas.runtime.counterfactual import counterfactual_values

    orchestrator, _ = build("travel", "orchestrator", embedder)
    session = await orchestrator.submit(TRAVEL)
    assert session.task.state is TaskState.COMPLETED
    players = ["railgo", "swiftrail", "personal", "staywell"]
    values = await counterfactual_values(
        orchestrator.network,
        session,
        orchestrator.skills,
        players,
        sender="orchestrator",
        platform=["logger"],
        commission=Decimal("0.10"),
        flat_fee=Decimal("0.05"),
    )
    assert len(values) == 16
    everyone = frozenset(players)
    train = Decimal(str(session.runs["ticket.book"].output["price"]))
    hotel = Decimal(str(session.runs["hotel.book"].output["total"]))
    assert values[everyone] == pytest.approx(float((train + hotel) * Decimal("0.10")), abs=0.02)
    assert values[frozenset({"staywell", "railgo", "swiftrail"})] == 0.0  # nobody can book
    chosen = session.runs["ticket.book"].agent
    loser = ({"railgo", "swiftrail"} - {chosen}).pop()
    # Without the winner, the loser's train would have been booked instead.
    assert values[everyone - {chosen}] > values[everyone - {chosen, loser}]
    shares = shapley(players, lambda s: values[s])
    assert shares[loser] > 0  # credited for what it could have done
    assert sum(shares.values()) == pytest.approx(values[everyone])
