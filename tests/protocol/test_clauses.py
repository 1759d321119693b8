"""Clause roles: context, conditional bookings, ways back, search only."""

from __future__ import annotations

import pytest

from lamas.protocol.clauses import Role, is_verbless, return_part, role_of


@pytest.mark.parametrize(
    ("clause", "role"),
    [
        ("I'm going to a conference in Lyon", Role.CONTEXT),
        ("I'm cooking tonight", Role.CONTEXT),
        ("reserve it if there is one", Role.CONDITIONAL),
        ("if so book the cheapest", Role.CONDITIONAL),
        ("and back on Sunday", Role.RETURN),
        ("don't book anything yet", Role.SEARCH_ONLY),
        ("book me a hotel in Lyon", Role.STEP),
        ("I need a hotel near the station", Role.STEP),
    ],
)
def test_roles(clause: str, role: Role) -> None:
    assert role_of(clause) is role


def test_the_only_clause_is_always_a_request() -> None:
    assert role_of("I'm going to Lyon tomorrow", first=True) is Role.STEP


def test_verbless_requests_and_ways_back_inside_a_clause() -> None:
    assert is_verbless("train Paris Lyon friday 8am")
    assert not is_verbless("what trains go to Lyon")
    assert (
        return_part("train from Paris to Rennes on the 1st, back on the 4th") == "back on the 4th"
    )
    assert return_part("back to Paris") is None
