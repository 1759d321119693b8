"""Revenue sharing: fee first, shares x quality, exact to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamas.economy.revenue import PLATFORM, Quality, split_revenue
from lamas.errors import InputError

OWNERS = {"railgo": "railgo", "staywell": "staywell-hotels", "personal": "user", "nav": "maps"}


def test_fee_then_shares_by_entity() -> None:
    split = split_revenue(
        Decimal("100.00"),
        {"railgo": 0.5, "staywell": 0.3, "personal": 0.2},
        owners=OWNERS,
        fee_rate=Decimal("0.20"),
    )
    assert split.platform_fee == Decimal("20.00")
    assert split.by_agent == {
        "railgo": Decimal("40.00"),
        "staywell": Decimal("24.00"),
        "personal": Decimal("16.00"),
    }
    assert split.by_entity[PLATFORM] == Decimal("20.00")
    assert split.by_entity["staywell-hotels"] == Decimal("24.00")


def test_quality_weighs_the_shares() -> None:
    split = split_revenue(
        Decimal("10.00"),
        {"railgo": 0.5, "staywell": 0.5},
        owners=OWNERS,
        fee_rate=Decimal(0),
        quality={"railgo": 1.0, "staywell": 0.5},
    )
    assert split.by_agent["railgo"] == Decimal("6.67")
    assert split.by_agent["staywell"] == Decimal("3.33")


@given(
    value=st.decimals(min_value=0, max_value=10_000, places=2),
    shares=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=4),
    rate=st.decimals(min_value=0, max_value=1, places=2),
)
def test_no_cent_is_created_or_lost(value: Decimal, shares: list[float], rate: Decimal) -> None:
    agents = list(OWNERS)[: len(shares)]
    split = split_revenue(
        value, dict(zip(agents, shares, strict=False)), owners=OWNERS, fee_rate=rate
    )
    assert sum(split.by_entity.values(), Decimal(0)) == value
    assert all(amount >= 0 for amount in split.by_agent.values())


def test_nobody_earned_it_stays_with_the_platform() -> None:
    split = split_revenue(Decimal("5.00"), {"railgo": 0.0}, owners=OWNERS)
    assert split.by_entity[PLATFORM] == Decimal("5.00")
    assert split.by_agent == {"railgo": Decimal("0")}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"value": Decimal("-1")}, "negative"),
        ({"fee_rate": Decimal("1.5")}, "fee rate"),
        ({"shares": {"stranger": 1.0}}, "stranger"),
        ({"shares": {"railgo": -0.1}}, "negative"),
    ],
)
def test_bad_input_is_refused(arguments: dict[str, object], message: str) -> None:
    call: dict[str, object] = {
        "value": Decimal("1"),
        "shares": {"railgo": 1.0},
        "owners": OWNERS,
        "fee_rate": Decimal("0.2"),
    }
    call.update(arguments)
    with pytest.raises(InputError, match=message):
        split_revenue(**call)  # type: ignore[arg-type]


def test_quality_starts_at_the_prior_and_volume_cannot_game_it() -> None:
    assert Quality().score == pytest.approx(0.8)
    # 1000 successes at a 90% rate score no better than 90%.
    assert Quality(successes=900, failures=100).score == pytest.approx(0.899, abs=0.002)
    # A bad start is bounded below.
    assert Quality(successes=0, failures=100).score == 0.5
    assert Quality(feedback=(1.0, 1.0)).score > Quality().score
    with pytest.raises(InputError, match="feedback"):
        _ = Quality(feedback=(2.0,)).score
