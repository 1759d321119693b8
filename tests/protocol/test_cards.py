"""AgentCard, Skill and Price: round-trips, lookups and refusal of inconsistent cards."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from lamas.errors import MalformedMessage
from lamas.protocol.cards import AgentCard, Price, Skill

BOOK_INPUT = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "nights": {"type": "integer", "minimum": 1},
    },
    "required": ["city"],
    "additionalProperties": False,
}
BOOK_OUTPUT = {"type": "object", "properties": {"confirmation": {"type": "string"}}}


def hotel_card() -> AgentCard:
    return AgentCard(
        id="hotel@acme",
        name="Acme Hotels",
        description="books rooms",
        entity="Acme Inc.",
        url="https://hotel.example.com",
        skills=(
            Skill(
                name="hotel.book",
                description="book a room",
                input_schema=BOOK_INPUT,
                output_schema=BOOK_OUTPUT,
                tags=("travel", "hotel"),
            ),
            Skill(name="hotel.search", description="find rooms"),
        ),
        prices=(
            Price(skill="hotel.book", amount=Decimal("1.50"), currency="EUR"),
            Price(skill="hotel.search", amount=Decimal("0.002"), unit="1k_tokens"),
        ),
        vault_fields=("name", "passport_number"),
        signature="sig",
    )


def card_dict(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(hotel_card().model_dump_json())
    data.update(overrides)
    return data


def refused(data: Any) -> MalformedMessage:
    with pytest.raises(MalformedMessage) as caught:
        AgentCard.parse(data)
    assert caught.value.what == "agent card"
    return caught.value


def test_card_round_trips_through_json() -> None:
    card = hotel_card()
    text = card.model_dump_json()
    again = AgentCard.parse(text)
    assert again == card
    assert AgentCard.parse(json.loads(text)) == card
    assert AgentCard.parse(text.encode()) == card


def test_prices_stay_exact_decimals() -> None:
    again = AgentCard.parse(hotel_card().model_dump_json())
    price = again.price("hotel.book")
    assert price is not None
    assert isinstance(price.amount, Decimal)
    assert price.amount == Decimal("1.50")
    small = again.price("hotel.search")
    assert small is not None
    assert small.amount == Decimal("0.002")
    assert small.amount * 3 == Decimal("0.006")  # no binary float error


def test_schemas_survive_the_round_trip() -> None:
    again = AgentCard.parse(hotel_card().model_dump_json())
    skill = again.skill("hotel.book")
    assert skill is not None
    assert skill.input_schema == BOOK_INPUT
    assert skill.output_schema == BOOK_OUTPUT
    assert skill.tags == ("travel", "hotel")


def test_lookups() -> None:
    card = hotel_card()
    assert card.skill("hotel.search") is not None
    assert card.skill("flight.book") is None
    assert card.price("flight.book") is None
    search = card.skill("hotel.search")
    assert search is not None
    assert search.input_schema == {"type": "object"}  # the default
    price = card.price("hotel.search")
    assert price is not None
    assert price.currency == "USD"
    assert price.unit == "1k_tokens"


def test_invalid_input_schema_is_refused() -> None:
    data = card_dict()
    data["skills"][0]["input_schema"] = {"type": "nonsense"}
    error = refused(data)
    assert "skills.0.input_schema" in str(error)
    assert "not a valid JSON Schema" in str(error)


def test_invalid_output_schema_is_refused() -> None:
    data = card_dict()
    data["skills"][1]["output_schema"] = {"properties": {"x": {"minimum": "zero"}}}
    error = refused(data)
    assert "skills.1.output_schema" in str(error)


def test_skill_constructor_refuses_invalid_schema() -> None:
    with pytest.raises(ValidationError, match="not a valid JSON Schema"):
        Skill(name="x", description="y", input_schema={"type": "nonsense"})


def test_duplicate_skill_names_are_refused() -> None:
    data = card_dict()
    data["skills"].append({"name": "hotel.book", "description": "again"})
    error = refused(data)
    assert "unique" in str(error)
    assert "hotel.book" in str(error)


def test_price_for_unknown_skill_is_refused() -> None:
    data = card_dict()
    data["prices"].append({"skill": "flight.book", "amount": "3"})
    error = refused(data)
    assert "flight.book" in str(error)
    assert "does not offer" in str(error)


@pytest.mark.parametrize(
    ("price", "field"),
    [
        ({"skill": "hotel.book", "amount": "-1"}, "amount"),
        ({"skill": "hotel.book", "amount": "1", "currency": "euro"}, "currency"),
        ({"skill": "hotel.book", "amount": "1", "unit": "year"}, "unit"),
    ],
)
def test_bad_price_fields_are_refused(price: dict[str, Any], field: str) -> None:
    data = card_dict(prices=[price])
    error = refused(data)
    assert f"prices.0.{field}" in str(error)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"id": "bad id"}, "id"),
        ({"entity": ""}, "entity"),
        ({"name": ""}, "name"),
        ({"owner": "someone"}, "owner"),
    ],
)
def test_bad_card_fields_are_refused(override: dict[str, Any], field: str) -> None:
    error = refused(card_dict(**override))
    assert any(p.startswith(f"{field}:") for p in error.problems)


def test_bad_skill_name_is_refused() -> None:
    data = card_dict()
    data["skills"][1]["name"] = "Hotel Search"
    error = refused(data)
    assert "skills.1.name" in str(error)


def test_card_without_skills_is_valid() -> None:
    card = AgentCard(id="solo", name="Solo", entity="me")
    assert card.skills == ()
    assert AgentCard.parse(card.model_dump_json()) == card
