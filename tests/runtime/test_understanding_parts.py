"""The understanding parts on the example networks' real cards: names found by the vendors'
vocabularies, the out-of-scope judge, clause roles turned into steps."""

from __future__ import annotations

import os
from typing import Any

import pytest
from support.casestudy import EXAMPLES

from lamas.agent.embeddings import MiniLMEmbedder
from lamas.protocol.instruction import routable_skills
from lamas.runtime.netfile import load
from lamas.runtime.router import CapabilityRouter
from lamas.runtime.understanding import Understander
from lamas.runtime.understanding.gazetteer import said_inputs, slot_vocabularies
from lamas.runtime.understanding.inputs import served_words, trip_places, vocabulary_names


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def travel() -> Any:
    return load(EXAMPLES / "travel" / "network.yaml", external=["orchestrator"])[1]


def names(network: Any, skill: str, text: str) -> dict[str, Any]:
    skills = routable_skills(network.cards, exclude=["orchestrator"])
    return said_inputs(skills[skill], text, slot_vocabularies(skills[skill], network.find(skill)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("next friday paris lyon", {"origin": "Paris", "destination": "Lyon"}),
        ("train to Bordeaux from Paris on the 2nd", {"origin": "Paris", "destination": "Bordeaux"}),
        (
            "the first train to Marseille, leaving from Gare de Lyon",
            {"origin": "Paris Gare de Lyon", "destination": "Marseille"},
        ),
        ("Strasbourg → Paris Est tomorrow", {"origin": "Strasbourg"}),
        ("train from Paris to Bordaux on Friday", {"origin": "Paris", "destination": "Bordeaux"}),
        ("a train from Paris to Lyon or Marseille", {"origin": "Paris"}),  # a choice: asked
        ("book Paris-Lyon for Friday", {"origin": "Paris", "destination": "Lyon"}),
        (
            "un billet Toulouse-Bordeaux pour samedi",
            {"origin": "Toulouse", "destination": "Bordeaux"},
        ),
        ("a hotel in Aix-en-Provence", {}),  # a name with hyphens of its own: no trip
    ],
)
def test_trip_ends_from_the_vendors_vocabulary(
    travel: Any, text: str, expected: dict[str, Any]
) -> None:
    found = names(travel, "ticket.search", text)
    assert {k: v for k, v in found.items() if k in expected} == expected
    if "destination" not in expected:
        assert found.get("destination") in (None, "Paris Gare de l'Est")


def test_a_place_names_its_city(travel: Any) -> None:
    assert names(travel, "hotel.search", "a hotel near the Vieux-Port") == {
        "near": "Vieux-Port",
        "city": "Marseille",
    }
    # "Gare de Lyon" is a Paris station, not the city of Lyon.
    assert names(travel, "hotel.search", "a hotel near Gare de Lyon")["city"] == "Paris"


def test_out_of_scope_is_judged_on_the_thing_asked_for(
    embedder: MiniLMEmbedder, travel: Any
) -> None:
    skills = routable_skills(travel.cards, exclude=["orchestrator"])
    understander = Understander(
        skills, embedder, served=served_words(travel), places=trip_places(travel)
    )
    router = CapabilityRouter(skills, embedder)
    request = (
        "book a train from Paris to Lyon on Friday, rent a car at the station and order a pizza"
    )
    understood = understander.understand(
        understander.route(request, router), router.scores, router.threshold
    )
    assert [r.capability for r in understood.routed] == ["ticket.book"]
    reported = " ".join(understood.not_offered)
    assert "car" in reported
    assert "pizza" in reported
    # A trip that routes weakly still stands; a way back reverses it.
    understood = understander.understand(
        understander.route("Le Mans to Angers on Monday, then back on Friday", router),
        router.scores,
        router.threshold,
    )
    assert [r.capability for r in understood.routed] == ["ticket.book", "ticket.book"]
    assert understood.returns == {1: 0}


@pytest.fixture(scope="module")
def travel_understander(embedder: MiniLMEmbedder, travel: Any) -> tuple[Understander, Any]:
    skills = routable_skills(travel.cards, exclude=["orchestrator"])
    understander = Understander(
        skills,
        embedder,
        served=served_words(travel),
        places=trip_places(travel),
        names=vocabulary_names(travel),
    )
    return understander, CapabilityRouter(skills, embedder)


def steps_of(pair: tuple[Understander, Any], request: str) -> tuple[list[str | None], list[str]]:
    understander, router = pair
    understood = understander.understand(
        understander.route(request, router), router.scores, router.threshold
    )
    return [r.capability for r in understood.routed], understood.not_offered


@pytest.mark.parametrize(
    ("request_text", "steps", "reported"),
    [
        # Chat, verbs and relative clauses are no thing asked for.
        (
            "need a hotel in Bordeaux for 3 nights from wednesday, near the station",
            ["hotel.book"],
            0,
        ),
        ("from Montparnasse to Rennes, tmrw, cheapest one pls", ["ticket.book"], 0),
        ("nantes->paris fri pm, cheapest pls", ["ticket.book"], 0),
        # A bare modifier belongs to the step before; "car rental" is still a thing.
        ("book the cheapest hotel in Toulouse, walking distance to the centre", ["hotel.book"], 0),
        ("train to Lyon on Friday, car rental at the station too", ["ticket.book"], 1),
        # "book it" after a clause books what it finds.
        (
            "If there's a train from Caen to Rouen before 8 on Friday, book it for me",
            ["ticket.book"],
            0,
        ),
        # Tickets for something that is no trip's end.
        (
            "Can you book Louvre tickets and a train from Lille to Paris on Sunday morning?",
            ["ticket.book"],
            1,
        ),
        (
            "book me a train from Paris to Brest on Thursday and two passes for the festival",
            ["ticket.book"],
            1,
        ),
        ("a ticket to Lyon Part-Dieu on Friday", ["ticket.book"], 0),
        # A leg naming both cities is a leg of its own, not the way back of the one before.
        (
            "Paris to Strasbourg on Tuesday, Strasbourg to Lyon Thursday and Lyon back to Paris "
            "on Saturday",
            ["ticket.book", "ticket.book", "ticket.book"],
            0,
        ),
        # The purpose of a trip, and what is already done, are context.
        ("I want to visit Nimes, book the train from Paris", ["ticket.book"], 0),
        (
            "Christmas in Strasbourg was lovely, now book me a train to Paris on Wednesday",
            ["ticket.book"],
            0,
        ),
    ],
)
def test_clauses_become_the_steps_asked_for(
    travel_understander: tuple[Understander, Any],
    request_text: str,
    steps: list[str],
    reported: int,
) -> None:
    found, not_offered = steps_of(travel_understander, request_text)
    assert found == steps, not_offered
    assert len(not_offered) == reported, not_offered


def test_a_conditional_split_from_its_booking_is_still_conditional(
    travel_understander: tuple[Understander, Any],
) -> None:
    understander, router = travel_understander
    understood = understander.understand(
        understander.route("If there's a hotel in Paris on Friday, book it", router),
        router.scores,
        router.threshold,
    )
    assert [r.capability for r in understood.routed] == ["hotel.book"]
    assert understood.conditional == {0}


def test_a_vendor_name_with_and_is_one_clause(embedder: MiniLMEmbedder) -> None:
    music = load(EXAMPLES / "music" / "network.yaml", external=["music-orchestrator"])[1]
    skills = routable_skills(music.cards, exclude=["music-orchestrator"])
    understander = Understander(
        skills, embedder, served=served_words(music), names=vocabulary_names(music)
    )
    router = CapabilityRouter(skills, embedder)
    routed = understander.route("play the latest Christine and the Queens song", router)
    assert [r.text for r in routed] == ["play the latest Christine and the Queens song"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("need a hotel in Bordaux for 3 nights, near the station", {"near": "Bordeaux Saint-Jean"}),
        ("a hotel in Reims near the cathedral", {"near": "Cathédrale Notre-Dame de Reims"}),
        ("a hotel in Annecy near the lake", {"near": "Lac d'Annecy"}),
        ("a hotel in Montparnasse for two nights", {"city": "Paris", "near": "Paris Montparnasse"}),
        ("hotel near the big station in Lyon", {"near": "Lyon Part-Dieu"}),
    ],
)
def test_a_place_of_a_kind_is_found_within_the_city(
    travel: Any, text: str, expected: dict[str, Any]
) -> None:
    found = names(travel, "hotel.search", text)
    assert {k: found.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("play Bohemian Rhapsody", "Bohemian Rhapsody"),
        ("put on some Aretha Franklin, Respect", "Respect"),
        ("Happy songs please", None),  # a mood said first, not the song "Happy"
        ("play something happy", None),  # an ordinary word, not a title
    ],
)
def test_a_title_is_a_title_only_when_written_as_one(text: str, title: str | None) -> None:
    network = load(EXAMPLES / "music" / "network.yaml", external=["music-orchestrator"])[1]
    assert names(network, "song.search", text).get("title") == title


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        (
            "a train from Paris to Lyon on Monday the 29th, sorry I mean Tuesday the 30th",
            "a train from Paris to Lyon on Tuesday the 30th",
        ),
        (
            "play Take Five... actually no, something by Miles Davis instead",
            "play something by Miles Davis",
        ),
        (
            "book a train to Lyon, I mean to Marseille, on Friday",
            "book a train to Marseille, on Friday",
        ),
        ("a hotel for 2 nights, no wait, 3 nights", "a hotel for 3 nights"),
        ("Paris to Lyon - sorry, Marseille - on Friday", "Paris to Marseille - on Friday"),
        # no correction: left alone
        ("book a train, sorry for the trouble", "book a train, sorry for the trouble"),
        ("what I mean is a train to Lyon", "what I mean is a train to Lyon"),
    ],
)
def test_a_request_that_corrects_itself_is_read_as_corrected(said: str, meant: str) -> None:
    from lamas.runtime.understanding.corrections import corrected

    assert corrected(said) == meant


def test_an_answer_fills_the_end_asked_for() -> None:
    from lamas.runtime.understanding.inputs import as_asked

    assert as_asked({"origin": "Lyon"}, ["destination"]) == {"destination": "Lyon"}
    assert as_asked({"origin": "Lyon"}, ["origin"]) == {"origin": "Lyon"}
    assert as_asked({"origin": "Lyon", "destination": "Nice"}, ["destination"]) == {
        "origin": "Lyon",
        "destination": "Nice",
    }


def test_a_step_said_again_is_one_step(
    travel_understander: tuple[Understander, Any],
) -> None:
    steps, not_offered = steps_of(
        travel_understander,
        "I'll need a hotel in Lille for 2 nights. The train is already booked, "
        "I only need the room.",
    )
    assert steps == ["hotel.book"]
    assert not_offered == []


def test_a_short_answer_to_one_free_text_input_is_that_input() -> None:
    from lamas.protocol.cards import Skill
    from lamas.runtime.understanding.inputs import answered_directly

    city = {"type": "string"}
    skill = Skill(
        name="museums",
        description="museums in a city",
        input_schema={
            "type": "object",
            "properties": {"city": city, "date": {"type": "string", "format": "date"}},
        },
    )
    assert answered_directly(skill, ["city"], "In Lyon.", {}) == {"city": "Lyon"}
    assert answered_directly(skill, ["city"], "it's in Saint-Étienne!", {}) == {
        "city": "Saint-Étienne"
    }
    # Not a short answer, not the one input asked, or an input with a format: not read so.
    assert (
        answered_directly(skill, ["city"], "I said it already, the big one in the south", {}) == {}
    )
    assert answered_directly(skill, ["city", "date"], "Lyon", {}) == {}
    assert answered_directly(skill, ["date"], "Friday", {}) == {}
