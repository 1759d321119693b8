"""Instruction processing, the pure part: clauses, routing merges, plans, slots, questions."""

from __future__ import annotations

import pytest

from lamas.errors import InvalidPlan
from lamas.protocol import AgentCard, Skill
from lamas.protocol.instruction import (
    RoutedClause,
    build_plan,
    missing_slots,
    question_for,
    routable_skills,
    route_clauses,
    skill_text,
    slot_schema,
    split_clauses,
    ungrounded,
)

SEARCH = Skill(
    name="ticket.search",
    description="Search train tickets",
    input_schema={
        "type": "object",
        "properties": {
            "origin": {"type": "string", "description": "departure city"},
            "destination": {"type": "string", "description": "arrival city"},
            "date": {"type": "string", "format": "date", "description": "travel date"},
            "time_of_day": {"type": "string", "enum": ["morning", "evening"]},
        },
        "required": ["origin", "destination", "date"],
    },
    examples=("find trains to Lyon",),
)
BOOK = Skill(name="ticket.book", description="Book a ticket", requires=("ticket.search",))
HOTEL = Skill(name="hotel.search", description="Find hotels")
VOTE = Skill(name="consensus.vote", description="Vote", tags=("internal",))
SKILLS = {s.name: s for s in (SEARCH, BOOK, HOTEL)}


def test_split_at_conjunctions_and_punctuation() -> None:
    text = "Book a train to Lyon, and a hotel near the station; then show me the way"
    assert split_clauses(text) == [
        "Book a train to Lyon",
        "Book a hotel near the station",
        "show me the way",
    ]


@pytest.mark.parametrize(
    ("instruction", "second"),
    [
        ("Book me a train to Lyon and a hotel there", "Book me a hotel there"),
        ("Find trains to Lille, and a hotel in Lille", "Find a hotel in Lille"),
        ("I need a train to Nice and a room", "I need a room"),
        ("Book a room and show me the way", "show me the way"),
    ],
)
def test_the_verb_is_shared_across_a_conjunction(instruction: str, second: str) -> None:
    assert split_clauses(instruction)[1] == second


@pytest.mark.parametrize(
    ("instruction", "clauses"),
    [
        (
            "I need a hotel in Lille. The train is already booked.",
            ["I need a hotel in Lille", "The train is already booked."],
        ),
        (
            "What's the weather? Also play something calm",
            ["What's the weather", "play something calm"],
        ),
        ("play the blues, B.B. King", ["play the blues", "B.B. King"]),
    ],
)
def test_a_verb_is_shared_within_its_sentence_only(instruction: str, clauses: list[str]) -> None:
    assert split_clauses(instruction) == clauses


def _scorer(table: dict[str, tuple[str, float]]):  # type: ignore[no-untyped-def]
    def score(clause: str) -> list[tuple[str, float]]:
        for needle, result in table.items():
            if needle in clause:
                return [result]
        return [("hotel.search", 0.05)]

    return score


def test_a_fragment_that_names_nothing_is_merged_back() -> None:
    score = _scorer({"train": ("ticket.search", 0.8), "hotel": ("hotel.search", 0.7)})
    routed = route_clauses("a train between Paris and Lyon and a hotel", score, threshold=0.3)
    assert [r.capability for r in routed] == ["ticket.search", "hotel.search"]
    assert routed[0].text == "a train between Paris and Lyon"


def test_a_leading_fragment_joins_the_next_clause() -> None:
    score = _scorer({"train": ("ticket.search", 0.8)})
    routed = route_clauses("Tomorrow, a train to Lyon", score, threshold=0.3)
    assert len(routed) == 1
    assert routed[0].capability == "ticket.search"
    assert routed[0].text.startswith("Tomorrow")


def test_nothing_routable_gives_no_capability() -> None:
    routed = route_clauses("hello there", _scorer({}), threshold=0.3)
    assert [r.capability for r in routed] == [None]


def test_internal_skills_and_the_orchestrator_are_not_routable() -> None:
    cards = [
        AgentCard(id="orchestrator", name="o", entity="p", skills=(HOTEL,)),
        AgentCard(id="v", name="v", entity="e", skills=(SEARCH, VOTE)),
    ]
    assert list(routable_skills(cards, exclude=["orchestrator"])) == ["ticket.search"]


def test_skill_text_includes_name_words_and_examples() -> None:
    assert skill_text(SEARCH) == ["ticket search: Search train tickets", "find trains to Lyon"]


def test_plan_expands_requirements_and_shares_them() -> None:
    routed = [
        RoutedClause("book a train", "ticket.book", 0.9),
        RoutedClause("show trains", "ticket.search", 0.9),
        RoutedClause("a hotel", "hotel.search", 0.8),
    ]
    plan = build_plan("x", routed, SKILLS)
    assert [s.id for s in plan.steps] == ["ticket.search", "ticket.book", "hotel.search"]
    assert plan.step("ticket.book").depends_on == ("ticket.search",)
    assert [{s.id for s in layer} for layer in plan.layers()] == [
        {"ticket.search", "hotel.search"},
        {"ticket.book"},
    ]


def test_plan_without_capabilities_is_an_error() -> None:
    with pytest.raises(InvalidPlan, match="no part of the instruction"):
        build_plan("hi", [RoutedClause("hi", None, 0.1)], SKILLS)


def test_plan_with_a_requirement_no_agent_offers() -> None:
    lonely = {"ticket.book": BOOK}
    with pytest.raises(InvalidPlan, match=r"ticket\.search"):
        build_plan("x", [RoutedClause("book", "ticket.book", 0.9)], lonely)


def test_requirement_loops_are_refused() -> None:
    a = Skill(name="a", description="a", requires=("b",))
    b = Skill(name="b", description="b", requires=("a",))
    with pytest.raises(InvalidPlan, match="loop"):
        build_plan("x", [RoutedClause("x", "a", 0.9)], {"a": a, "b": b})


def test_slot_schema_makes_every_field_required_and_nullable() -> None:
    schema = slot_schema(SEARCH.input_schema)
    assert schema["required"] == ["origin", "destination", "date", "time_of_day"]
    assert schema["properties"]["origin"]["type"] == ["string", "null"]
    assert None in schema["properties"]["time_of_day"]["enum"]
    assert schema["additionalProperties"] is False


def test_missing_slots_are_the_required_ones_without_value() -> None:
    assert missing_slots(SEARCH.input_schema, {"origin": "Paris", "date": ""}) == [
        "destination",
        "date",
    ]


def test_values_not_in_the_users_words_are_ungrounded() -> None:
    values = {"origin": "Paris", "destination": "Berlin", "date": "2026-12-04"}
    assert ungrounded(SEARCH.input_schema, values, "a train from paris to Lyon tomorrow") == [
        "destination"
    ]


def test_multiword_places_are_grounded_by_any_word() -> None:
    values = {"origin": "Lyon Part-Dieu station", "destination": "Paris"}
    assert ungrounded(SEARCH.input_schema, values, "from Part-Dieu to paris") == []


def test_question_names_the_missing_fields_with_their_descriptions() -> None:
    question = question_for(SEARCH, ["date", "destination"])
    assert question == (
        "To search train tickets, I need the date (travel date) and destination (arrival city)."
    )


def test_names_are_masked_so_routing_sees_what_is_asked() -> None:
    from lamas.protocol.instruction import mask_names

    assert mask_names("Directions from Perrache to Vieux Lyon please") == (
        "Directions from someplace to someplace please"
    )
    assert mask_names("how do I get to Part-Dieu") == "how do I get to someplace"


@pytest.mark.parametrize(
    ("fragment", "continuation", "expected"),
    [
        ("Lille on December 11?", True, False),
        ("Lyon", True, False),
        ("directions from Perrache", True, True),
        ("Directions from Perrache to Vieux Lyon", False, True),
        ("show me the way", True, True),
    ],
)
def test_a_fragment_of_names_and_dates_names_nothing(
    fragment: str, continuation: bool, expected: bool
) -> None:
    from lamas.protocol.instruction import names_something

    assert names_something(fragment, continuation=continuation) is expected


def test_action_texts_and_families() -> None:
    from lamas.protocol.instruction import action_texts, related_by_requirement

    booking = Skill(
        name="ticket.book",
        description="Book",
        examples=("reserve a seat on the train", "get me a ticket"),
        requires=("ticket.search",),
    )
    assert action_texts(booking) == ["book", "reserve", "get me"]
    skills = {"ticket.search": SEARCH, "ticket.book": booking, "hotel.search": HOTEL}
    assert related_by_requirement("ticket.search", skills) == ["ticket.search", "ticket.book"]
    assert related_by_requirement("hotel.search", skills) == ["hotel.search"]


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        ("Lyon", "a train from Paris to Lyon or Marseille", ["Lyon", "Marseille"]),
        ("Paris", "a train from Paris to Lyon or Marseille", []),
        ("Nice", "to Nice, Lyon or Marseille", ["Nice", "Lyon", "Marseille"]),
        ("Lyon", "a train to Lyon", []),
    ],
)
def test_alternatives_the_user_left_open(value: str, text: str, expected: list[str]) -> None:
    from lamas.protocol.instruction import alternatives

    assert alternatives(value, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a train to Marseille", False),  # "Mar..." is no month
        ("a room for 2 nights", False),  # a count is no date
        ("on December 4", True),
        ("tomorrow morning", True),
        ("on the 4th", True),
        ("2026-12-04", True),
        ("next Friday", True),
    ],
)
def test_mentions_date(text: str, expected: bool) -> None:
    from lamas.protocol.instruction import mentions_date

    assert mentions_date(text) is expected


def test_question_uses_the_first_phrase_of_the_description() -> None:
    skill = Skill(
        name="ticket.search",
        description="Search train tickets: timetable, prices; for any window.",
        input_schema=SEARCH.input_schema,
    )
    assert question_for(skill, ["date"]).startswith("To search train tickets, I need the date")


@pytest.mark.parametrize(
    ("instruction", "clauses"),
    [
        (
            "Hi! Hope you're well :) I'm off to Lyon on Friday. Book me a train. Thanks so much!",
            ["I'm off to Lyon on Friday", "Book me a train"],
        ),
        ("Hello, play some jazz please :-) thanks", ["play some jazz please"]),
        ("Hiya, hope the app's treating you well 😄 Fancy some rock", ["Fancy some rock"]),
        ("I hope to get a train at 9", ["I hope to get a train at 9"]),
        ("Bonjour ! un train pour Lyon demain. Merci beaucoup", ["un train pour Lyon demain"]),
        # A thank-you with something of its own is no pleasantry; a clock time no smiley.
        (
            "Thank you for the hotel, now a train at 10:30",
            ["Thank you for the hotel", "now a train at 10:30"],
        ),
    ],
)
def test_greetings_thanks_and_smileys_ask_for_nothing(instruction: str, clauses: list[str]) -> None:
    assert split_clauses(instruction) == clauses
