"""Understanding end to end on the travel network (MiniLM routing, scripted slot filler that
copies places only: dates, windows and stays are resolved without the model)."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

import pytest
from support.casestudy import EXAMPLES

from lamas.agent.embeddings import MiniLMEmbedder
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.protocol import TaskState
from lamas.runtime.faults import inject_faults
from lamas.runtime.netfile import load
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.slots import asked_service

TODAY = dt.date(2026, 11, 25)  # a Wednesday


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return MiniLMEmbedder()


def places(messages: list[ChatMessage], schema: dict[str, Any] | None) -> dict[str, Any]:
    """A slot filler that copies the places a request names, and nothing else."""
    request = messages[-1].content.rsplit("Request:", 1)[-1]
    service = asked_service(messages)
    answer: dict[str, Any] = {name: None for name in (schema or {}).get("properties", {})}
    trip = re.search(r"from ([A-Z]\w+) to ([A-Z]\w+)", request)
    if service == "ticket.search" and trip:
        answer.update(origin=trip.group(1), destination=trip.group(2))
    city = re.search(r"\b(?:in|to) ([A-Z]\w+)", request)
    if service == "hotel.search" and city:
        answer["city"] = city.group(1)
    return answer


def orchestrating(
    embedder: MiniLMEmbedder, example: str, agent_id: str, responder: Any
) -> Orchestrator:
    """The example network's orchestrator on a scripted model answering with `responder`."""
    spec, network = load(EXAMPLES / example / "network.yaml", external=[agent_id])
    orchestrator = Orchestrator(
        network, ScriptedModel(responder=responder), embedder, agent_id=agent_id, today=TODAY
    )
    orchestrator.join(next(a.card for a in spec.agents if a.card.id == agent_id))
    return orchestrator


def travel(embedder: MiniLMEmbedder) -> Orchestrator:
    return orchestrating(embedder, "travel", "orchestrator", places)


def booked_dates(session: Any, capability: str) -> list[str]:
    assert session.plan is not None
    return [
        session.runs[s.depends_on[0]].inputs.get("date") or ""
        for s in session.plan.steps
        if s.capability == capability and s.id in session.runs
    ]


async def test_an_out_of_scope_clause_is_reported_while_the_rest_runs(
    embedder: MiniLMEmbedder,
) -> None:
    session = await travel(embedder).submit(
        "Book me a train from Paris to Lyon on Friday morning, and book a table at a restaurant"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.not_offered == ["book a table at a restaurant"]
    assert "not offered by this network" in (session.task.status_message.text or "")  # type: ignore[union-attr]
    search = session.runs["ticket.search"]
    assert search.inputs["date"] == "2026-11-27"  # Friday, not today
    assert search.inputs["time_of_day"] == "morning"
    assert session.runs["ticket.book"].output["status"] == "confirmed"


async def test_a_past_date_is_asked_about_never_booked(embedder: MiniLMEmbedder) -> None:
    orchestrator = travel(embedder)
    session = await orchestrator.submit("Book a train from Paris to Lyon on November 20")
    assert session.task.state is TaskState.INPUT_REQUIRED
    assert "already passed" in (session.question or "")
    assert not session.runs  # nothing searched, nothing booked
    session = await orchestrator.answer(session.task.id, "December 2 please")
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["ticket.search"].inputs["date"] == "2026-12-02"


async def test_a_return_trip_is_one_leg_per_direction(embedder: MiniLMEmbedder) -> None:
    session = await travel(embedder).submit(
        "Book a train from Paris to Lyon on Friday, and back on Sunday evening"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.plan is not None
    legs = [s for s in session.plan.steps if s.capability == "ticket.search"]
    assert len(legs) == 2
    there, back = (session.runs[s.id].inputs for s in legs)
    assert (there["origin"], there["destination"], there["date"]) == ("Paris", "Lyon", "2026-11-27")
    assert (back["origin"], back["destination"], back["date"]) == ("Lyon", "Paris", "2026-11-29")
    assert back["time_of_day"] == "evening"


async def test_a_return_without_its_date_is_asked_not_copied(embedder: MiniLMEmbedder) -> None:
    orchestrator = travel(embedder)
    session = await orchestrator.submit(
        "return ticket from Paris to Lyon please, going out on Friday"
    )
    assert session.task.state is TaskState.INPUT_REQUIRED, session.task.status_message
    assert "date" in (session.question or "")
    session = await orchestrator.answer(session.task.id, "coming back on Sunday evening")
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.plan is not None
    legs = [s for s in session.plan.steps if s.capability == "ticket.search"]
    there, back = (session.runs[s.id].inputs for s in legs)
    assert (there["origin"], there["date"]) == ("Paris", "2026-11-27")
    assert (back["origin"], back["date"], back["time_of_day"]) == ("Lyon", "2026-11-29", "evening")


async def test_the_time_of_day_goes_with_the_day_it_was_said_with(
    embedder: MiniLMEmbedder,
) -> None:
    session = await travel(embedder).submit(
        "Going to Lyon tomorrow evening from Paris, book the train please"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["ticket.search"].inputs["time_of_day"] == "evening"


async def test_a_conditional_booking_books_when_the_search_finds_one(
    embedder: MiniLMEmbedder,
) -> None:
    session = await travel(embedder).submit(
        "check for a hotel in Lyon near Part-Dieu on Friday for two nights, "
        "and reserve it if there is one"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.plan is not None
    booking = next(s for s in session.plan.steps if s.capability == "hotel.book")
    assert booking.optional
    assert session.runs[booking.id].output["status"] == "confirmed"
    assert session.runs["hotel.search"].inputs["nights"] == 2


async def test_one_failed_branch_leaves_the_others_done_and_says_why(
    embedder: MiniLMEmbedder,
) -> None:
    orchestrator = travel(embedder)
    for vendor in ("railgo", "swiftrail"):
        inject_faults(orchestrator.network, vendor, "ticket.search", 1.0)
    session = await orchestrator.submit(
        "Book me a train from Paris to Lyon on Friday and a hotel in Lyon for two nights"
    )
    assert session.task.state is TaskState.FAILED
    answer = session.task.status_message.text or ""  # type: ignore[union-attr]
    assert "ticket.search failed" in answer
    assert "injected fault" in answer  # the vendor's reason reaches the user
    assert session.runs["hotel.book"].output["status"] == "confirmed"  # the hotel still booked
    assert "hotel.book" in [a.name for a in session.task.artifacts]


def music(embedder: MiniLMEmbedder) -> Orchestrator:
    return orchestrating(embedder, "music", "music-orchestrator", lambda messages, schema: {})


def played(session: Any) -> dict[str, Any]:
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    output: dict[str, Any] = session.runs["song.play"].output
    return output


async def test_someone_pointed_at_but_never_named_is_asked_about(
    embedder: MiniLMEmbedder,
) -> None:
    orchestrator = music(embedder)
    session = await orchestrator.submit("play their newest one")
    assert session.task.state is TaskState.INPUT_REQUIRED, session.task.status_message
    assert "artist" in (session.question or "")
    session = await orchestrator.answer(session.task.id, "Daft Punk")
    assert "Daft Punk" in str(played(session))


async def test_part_of_several_names_offers_them_and_the_answer_picks_one(
    embedder: MiniLMEmbedder,
) -> None:
    orchestrator = music(embedder)
    session = await orchestrator.submit("play some Bob")
    assert session.task.state is TaskState.INPUT_REQUIRED, session.task.status_message
    assert "Bob Dylan" in (session.question or "")
    assert "Bob Marley" in (session.question or "")
    session = await orchestrator.answer(session.task.id, "Marley")
    assert "Bob Marley" in str(played(session))


async def test_a_song_asked_for_by_its_title_is_the_one_played(embedder: MiniLMEmbedder) -> None:
    session = await music(embedder).submit("play Bohemian Rhapsody")
    assert "Bohemian Rhapsody" in str(played(session))


async def test_the_day_before_the_day_said_and_the_window_survives_a_question(
    embedder: MiniLMEmbedder,
) -> None:
    session = await travel(embedder).submit(
        "I have to be in Lyon on the 3rd of next month. "
        "Train from Paris the day before, after lunch"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    search = session.runs["ticket.search"].inputs
    assert (search["date"], search["depart_after"]) == ("2026-12-02", "13:00")
    orchestrator = travel(embedder)
    session = await orchestrator.submit("book me a train from Paris to Lyon at 8am")
    assert session.task.state is TaskState.INPUT_REQUIRED  # which day?
    session = await orchestrator.answer(session.task.id, "on Friday")
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    search = session.runs["ticket.search"].inputs
    assert (search["date"], search["depart_after"]) == ("2026-11-27", "07:00")


async def test_a_stay_with_a_start_and_no_end_asks_how_long(embedder: MiniLMEmbedder) -> None:
    orchestrator = travel(embedder)
    session = await orchestrator.submit(
        "Room in Lyon from Friday please, somewhere in the old town"
    )
    assert session.task.state is TaskState.INPUT_REQUIRED, session.task.status_message
    assert "nights" in (session.question or "")
    session = await orchestrator.answer(session.task.id, "checking out Sunday")
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    search = session.runs["hotel.search"].inputs
    assert (search["check_in"], search["nights"]) == ("2026-11-27", 2)
    assert search["near"] == "Vieux Lyon"


async def test_a_kind_of_place_is_found_in_the_city_said_elsewhere(
    embedder: MiniLMEmbedder,
) -> None:
    session = await travel(embedder).submit(
        "I'm going to a wedding in Toulouse on Saturday. "
        "Book a hotel near the cathedral for that night"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["hotel.search"].inputs["near"].startswith("Cath")


async def test_a_past_date_from_the_model_is_asked_about_never_booked(
    embedder: MiniLMEmbedder,
) -> None:
    def stale(messages: list[ChatMessage], schema: dict[str, Any] | None) -> dict[str, Any]:
        return {**places(messages, schema), "date": "2026-11-02"}  # weeks before TODAY

    orchestrator = orchestrating(embedder, "travel", "orchestrator", stale)
    session = await orchestrator.submit("train from Paris to Lyon, same day as last time")
    assert session.task.state is TaskState.INPUT_REQUIRED, session.task.status_message
    assert "date" in (session.question or "")
    assert not session.runs


def test_a_day_before_today_is_past() -> None:
    from lamas.runtime.understanding.inputs import past_date

    today = dt.date(2026, 8, 10)
    assert past_date({"date": "2026-08-02"}, ["date"], today) == "2026-08-02"
    assert past_date({"date": "2026-08-10"}, ["date"], today) is None
    assert past_date({"date": "soon"}, ["date"], today) is None


async def test_the_trip_said_as_context_and_a_stay_there_after_a_round_trip(
    embedder: MiniLMEmbedder,
) -> None:
    # Where the user is heading (said as context, after a greeting) ends the train asked
    # for and is where the hotel is.
    session = await travel(embedder).submit(
        "Hi! Hope you're well :) I'm heading to Nantes for a conference next week. "
        "Could you book me a train from Paris on Monday and a hotel near the station for 2 nights?"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["ticket.search"].inputs["destination"] == "Nantes"
    assert session.runs["hotel.search"].inputs["city"] == "Nantes"
    # After a round trip the stay is where the way out goes, not where the way back does.
    session = await travel(embedder).submit(
        "I wanna book a roundtrip Paris to Nantes, leaving Friday and returning Sunday. "
        "And I'll need a hotel there Friday through Sunday."
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert not session.not_offered
    assert session.runs["hotel.search"].inputs["city"] == "Nantes"


async def test_a_round_trip_with_its_days_said_apart_is_two_legs(embedder: MiniLMEmbedder) -> None:
    session = await travel(embedder).submit(
        "Return ticket Lille - Paris, going Monday morning coming back Wednesday evening"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.plan is not None
    legs = [s for s in session.plan.steps if s.capability == "ticket.search"]
    assert len(legs) == 2
    there, back = (session.runs[s.id].inputs for s in legs)
    assert (there["origin"], there["date"], there["time_of_day"]) == (
        "Lille",
        "2026-11-30",
        "morning",
    )
    assert (back["origin"], back["date"], back["time_of_day"]) == ("Paris", "2026-12-02", "evening")


async def test_a_booking_after_a_condition_books_what_it_finds(embedder: MiniLMEmbedder) -> None:
    session = await travel(embedder).submit(
        "If there's an evening train Lyon to Paris on Friday, grab me a seat"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.plan is not None
    assert [s.capability for s in session.plan.steps] == ["ticket.search", "ticket.book"]
    assert session.runs["ticket.book"].output["status"] == "confirmed"


async def test_a_day_left_open_is_asked_and_the_answer_books_it(embedder: MiniLMEmbedder) -> None:
    orchestrator = travel(embedder)
    session = await orchestrator.submit("train Paris to Lyon saturday or sunday, not sure yet")
    assert session.task.state is TaskState.INPUT_REQUIRED, session.task.status_message
    assert "Saturday 28 November or Sunday 29 November" in (session.question or "")
    assert not session.runs
    session = await orchestrator.answer(session.task.id, "sunday")
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert session.runs["ticket.search"].inputs["date"] == "2026-11-29"


async def test_a_french_request_books_what_it_asks(embedder: MiniLMEmbedder) -> None:
    session = await travel(embedder).submit(
        "Bonjour, pouvez-vous me réserver un hôtel à Lyon près de la gare pour 2 nuits "
        "à partir du 4 décembre ?"
    )
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    search = session.runs["hotel.search"].inputs
    assert (search["city"], search["check_in"], search["nights"]) == ("Lyon", "2026-12-04", 2)
    assert session.runs["hotel.book"].output["status"] == "confirmed"


async def test_the_vendors_own_word_and_a_misspelt_artist_are_what_is_searched(
    embedder: MiniLMEmbedder,
) -> None:
    # The vendor serves "melancholic" as a mood of its own: not the generic table's "sad".
    session = await music(embedder).submit("play some melancholic folk")
    assert session.runs["song.search"].inputs["mood"] == "melancholic"
    # "by coldpaly": the one artist that close, though written in lower case.
    session = await music(embedder).submit("pls play smth by coldpaly")
    assert session.runs["song.search"].inputs["artist"] == "Coldplay"
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
