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
from lamas.runtime.understanding.inputs import served_words, trip_places


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
