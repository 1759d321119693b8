"""Settling a task: components, the game, Shapley credit and payouts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lamas.economy.revenue import PLATFORM
from lamas.economy.settlement import Component, Game, StepFacts, components_of, settle

RATE = Decimal("0.10")
TRIP = [
    StepFacts("ticket.search", (), frozenset({"railgo", "swiftrail"})),
    StepFacts(
        "ticket.book",
        ("ticket.search",),
        frozenset({"railgo"}),
        helpers=frozenset({"personal"}),
        commits=True,
        amount=Decimal("40.00"),
    ),
    StepFacts("hotel.search", (), frozenset({"staywell"})),
    StepFacts(
        "hotel.book",
        ("hotel.search",),
        frozenset({"staywell"}),
        helpers=frozenset({"personal"}),
        commits=True,
        amount=Decimal("200.00"),
    ),
]
OWNERS = {"railgo": "railgo", "swiftrail": "swiftrail", "staywell": "hotels", "personal": "user"}


def test_each_booking_is_a_component_needing_its_chain() -> None:
    components = components_of(TRIP, rate=RATE, flat_fee=Decimal("1"))
    assert [(c.label, c.value) for c in components] == [
        ("ticket.book", Decimal("4.00")),
        ("hotel.book", Decimal("20.00")),
    ]
    ticket = components[0]
    assert ticket.needs == (
        frozenset({"railgo", "swiftrail"}),
        frozenset({"railgo"}),
        frozenset({"personal"}),
    )
    assert ticket.covered_by(frozenset({"railgo", "personal"}))
    assert not ticket.covered_by(frozenset({"swiftrail", "personal"}))  # it could not book


def test_shapley_credit_follows_what_each_agent_made_possible() -> None:
    game = Game(components_of(TRIP, rate=RATE, flat_fee=Decimal("1")))
    shares = game.shares()
    assert shares["railgo"] == pytest.approx(2.0)  # half the train commission
    assert shares["staywell"] == pytest.approx(10.0)  # half the hotel commission
    assert shares["personal"] == pytest.approx(12.0)  # needed for both bookings
    assert shares["swiftrail"] == pytest.approx(0.0)  # offered, lost: made nothing possible
    assert sum(shares.values()) == pytest.approx(float(game.total))


def test_nothing_booked_earns_the_flat_fee_over_every_step() -> None:
    steps = [StepFacts("route.plan", (), frozenset({"navigator"}))]
    components = components_of(steps, rate=RATE, flat_fee=Decimal("0.05"))
    assert components == (Component("task", Decimal("0.05"), (frozenset({"navigator"}),)),)


def test_settle_pays_the_fee_then_the_entities_exactly() -> None:
    game = Game(components_of(TRIP, rate=RATE, flat_fee=Decimal("1")))
    settlement = settle(game, owners=OWNERS, fee_rate=Decimal("0.25"))
    by_entity = settlement.split.by_entity
    assert by_entity[PLATFORM] == Decimal("6.00")
    assert sum(by_entity.values()) == Decimal("24.00")
    assert by_entity["user"] == Decimal("9.00")  # 12/24 of the 18.00 pool


def test_components_round_trip_as_json() -> None:
    component = components_of(TRIP, rate=RATE, flat_fee=Decimal("1"))[0]
    assert Component.from_json(component.as_json()) == component
