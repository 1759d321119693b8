"""The orchestrator over a small scripted network: plan, ask back, run the DAG, follow up."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest

from lamas.agent import Agent
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.protocol import AgentCard, Context, Envelope, Message, Skill, TaskState
from lamas.runtime import Network
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.session import Event

TRIP = {
    "type": "object",
    "properties": {
        "origin": {"type": "string", "description": "departure city"},
        "destination": {"type": "string", "description": "arrival city"},
        "date": {"type": "string", "format": "date", "description": "travel date"},
    },
    "required": ["origin", "destination", "date"],
}
SEARCH = Skill(
    name="ticket.search",
    description="Search train tickets between two cities on a date",
    input_schema=TRIP,
    examples=("find a train from Paris to Lyon", "search train tickets for tomorrow"),
)
BOOK = Skill(
    name="ticket.book",
    description="Book a train ticket that was found",
    input_schema={
        "type": "object",
        "properties": {"offer_id": {"type": "string"}},
        "required": ["offer_id"],
    },
    requires=("ticket.search",),
    examples=("book me a train", "reserve a train ticket"),
)
HOTEL = Skill(
    name="hotel.search",
    description="Find hotel rooms in a city",
    input_schema={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "city of the hotel"}},
        "required": ["city"],
    },
    examples=("a hotel in Lyon", "find a hotel room"),
)
VOTE = Skill(name="consensus.vote", description="vote on offers", tags=("internal",))


class KeywordEmbedder:
    """Routing the tests can predict: one axis per keyword family, unit-normalised."""

    name = "keywords"
    AXES = (("book", "reserve"), ("train", "ticket"), ("hotel", "room"), ("find", "search"))
    dimension = len(AXES) + 1

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        rows = []
        for text in texts:
            words = set(re.findall(r"[a-z]+", text.lower()))
            row = [float(bool(words & set(axis))) for axis in self.AXES] + [0.1]
            rows.append(row)
        matrix = np.array(rows, dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def vendor(name: str, price: float, booked: list[str]) -> Agent:
    card = AgentCard(id=name, name=name, entity=name, skills=(SEARCH, BOOK, VOTE))

    async def handle(envelope: Envelope, context: Context) -> Message:
        data = envelope.message.data
        if envelope.skill == "ticket.search":
            offer = {"offer_id": f"{name}-1", "vendor": name, "price": price, **data}
            return Message.of_data({"offers": [offer]})
        if envelope.skill == "ticket.book":
            booked.append(f"{name}:{data['offer_id']}")
            return Message.of_data({"booking_id": f"B-{name}", "status": "confirmed"})
        # Everybody votes for the cheapest offer: agreement in one round.
        cheapest = min(data["options"], key=lambda o: o["data"]["price"])
        return Message.of_data({"choice": cheapest["key"], "ranking": []})

    return Agent(card, handle)


def hotel_agent() -> Agent:
    card = AgentCard(id="hotels", name="hotels", entity="h", skills=(HOTEL,))

    async def handle(envelope: Envelope, context: Context) -> Message:
        return Message.of_data(
            {"offers": [{"hotel": "Grand", "city": envelope.message.data["city"]}]}
        )

    return Agent(card, handle)


def responder(messages: list[ChatMessage], schema: dict[str, Any] | None) -> dict[str, Any]:
    """Fill slots by looking for cities and ISO dates in what the user said."""
    prompt = messages[-1].content
    said = " ".join(
        line.split(":", 1)[1]
        for line in prompt.splitlines()
        if line.startswith(("Request:", "Earlier", "Already"))
    )
    assert schema is not None
    cities = re.findall(r"\b(Paris|Lyon|Nice)\b", said)
    dates = re.findall(r"\d{4}-\d{2}-\d{2}", said)
    fields = list(schema["properties"])
    if fields == ["city"]:
        return {"city": cities[-1] if cities else None}
    known = {}
    match = re.search(r"Already known: (\{.*\})", prompt)
    if match:
        import json

        known = json.loads(match.group(1))
    return {
        "origin": cities[0] if len(cities) > 1 else known.get("origin"),
        "destination": cities[1] if len(cities) > 1 else known.get("destination"),
        "date": dates[-1] if dates else known.get("date"),
    }


@pytest.fixture
def world() -> tuple[Orchestrator, list[str], list[Event], list[Envelope]]:
    booked: list[str] = []
    events: list[Event] = []
    seen: list[Envelope] = []
    network = Network(
        [vendor("cheaprail", 20.0, booked), vendor("fastrail", 35.0, booked), hotel_agent()]
    )
    network.transport.observers.append(seen.append)
    orchestrator = Orchestrator(
        network,
        ScriptedModel(responder=responder),
        KeywordEmbedder(),
        today=dt.date(2026, 11, 25),
        on_event=events.append,
    )
    return orchestrator, booked, events, seen


async def test_plan_runs_with_consensus_and_data_passed_along(world) -> None:  # type: ignore[no-untyped-def]
    orchestrator, booked, events, seen = world
    session = await orchestrator.submit(
        "book me a train from Paris to Lyon on 2026-12-04 and a hotel in Lyon"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.plan is not None
    assert {s.capability for s in session.plan.steps} == {
        "ticket.search",
        "ticket.book",
        "hotel.search",
    }
    search = session.runs["ticket.search"]
    assert search.decision is not None
    assert search.decision.winner == "cheaprail:cheaprail-1"
    assert search.output["origin"] == "Paris"
    # The booking went to the vendor whose offer won, with the offer id from the search.
    assert booked == ["cheaprail:cheaprail-1"]
    assert session.runs["ticket.book"].inputs == {"offer_id": "cheaprail-1"}
    assert session.runs["hotel.search"].output == {"hotel": "Grand", "city": "Lyon"}
    assert [a.name for a in session.task.artifacts] == [
        "ticket.search",
        "ticket.book",
        "hotel.search",
    ]
    assert {e.kind for e in events} >= {"plan", "step", "consensus", "done"}
    assert all(e.sender == "orchestrator" for e in seen if e.skill != "consensus.vote")


async def test_missing_slot_asks_back_then_resumes(world) -> None:  # type: ignore[no-untyped-def]
    orchestrator, booked, _, _ = world
    session = await orchestrator.submit("book me a train from Paris to Lyon")
    assert session.task.state is TaskState.INPUT_REQUIRED
    assert session.question is not None
    assert "date" in session.question
    assert booked == []
    session = await orchestrator.answer(session.task.id, "on 2026-12-04 please")
    assert session.task.state is TaskState.COMPLETED
    assert session.slots["ticket.search"]["date"] == "2026-12-04"
    assert len(booked) == 1


async def test_follow_up_reruns_only_what_changed(world) -> None:  # type: ignore[no-untyped-def]
    orchestrator, booked, _, _ = world
    first = await orchestrator.submit(
        "book me a train from Paris to Lyon on 2026-12-04 and a hotel in Lyon"
    )
    assert first.task.state is TaskState.COMPLETED
    hotel_run = first.runs["hotel.search"]
    again = await orchestrator.submit(
        "make it 2026-12-05 instead", context_id=first.task.context_id
    )
    assert again.task.state is TaskState.COMPLETED
    assert again.slots["ticket.search"]["date"] == "2026-12-05"
    assert len(booked) == 2  # booked again for the new date
    assert again.runs["hotel.search"] is hotel_run  # untouched step not re-run


async def test_an_instruction_naming_no_capability_fails_clearly(world) -> None:  # type: ignore[no-untyped-def]
    orchestrator, _, _, _ = world
    session = await orchestrator.submit("sing me a lullaby")
    assert session.task.state is TaskState.FAILED
    assert session.task.status_message is not None
    assert "ticket.search" in session.task.status_message.text


async def test_a_failing_agent_fails_the_task_with_its_reason() -> None:
    async def broken(envelope: Envelope, context: Context) -> Message:
        raise RuntimeError("hotel database offline")

    network = Network(
        [Agent(AgentCard(id="hotels", name="h", entity="h", skills=(HOTEL,)), broken)]
    )
    orchestrator = Orchestrator(network, ScriptedModel(responder=responder), KeywordEmbedder())
    session = await orchestrator.submit("find a hotel room in Nice")
    assert session.task.state is TaskState.FAILED
    assert "hotel database offline" in session.task.status_message.text  # type: ignore[union-attr]


async def test_answer_to_a_task_not_waiting_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    orchestrator, _, _, _ = world
    session = await orchestrator.submit("find a hotel room in Nice")
    with pytest.raises(Exception, match="not waiting"):
        await orchestrator.answer(session.task.id, "yes")
    await asyncio.sleep(0)


async def test_a_choice_left_open_is_asked_not_guessed(world) -> None:  # type: ignore[no-untyped-def]
    orchestrator, booked, _, _ = world
    session = await orchestrator.submit("book me a train from Paris to Lyon or Nice on 2026-12-04")
    assert session.task.state is TaskState.INPUT_REQUIRED
    assert session.question is not None
    assert "destination (Lyon or Nice?)" in session.question
    assert booked == []
    session = await orchestrator.answer(session.task.id, "Nice")
    assert session.task.state is TaskState.COMPLETED
    assert session.slots["ticket.search"]["destination"] == "Nice"


async def test_a_message_on_a_waiting_context_answers_it(world) -> None:  # type: ignore[no-untyped-def]
    orchestrator, booked, _, _ = world
    session = await orchestrator.submit("book me a train from Paris to Lyon")
    assert session.task.state is TaskState.INPUT_REQUIRED
    again = await orchestrator.submit("2026-12-04", context_id=session.task.context_id)
    assert again.task.state is TaskState.COMPLETED
    assert len(booked) == 1


async def test_a_new_instruction_after_a_failed_plan_starts_afresh(world) -> None:  # type: ignore[no-untyped-def]
    orchestrator, _, _, _ = world
    failed = await orchestrator.submit("sing me a lullaby")
    assert failed.task.state is TaskState.FAILED
    again = await orchestrator.submit(
        "find a hotel room in Nice", context_id=failed.task.context_id
    )
    assert again.task.state is TaskState.COMPLETED
    assert again.task.context_id == failed.task.context_id
