"""Traffic monetization: CPM/CPC/CPA outcomes in the ledger, Shapley vs last touch, CTR/CVR."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lamas.cli.traffic import traffic_app
from lamas.economy.attribution import (
    Audience,
    Journey,
    LiftModel,
    Rates,
    Touch,
    TouchKind,
    TrafficError,
    TrafficPrices,
    attribute,
    conversion_game,
    rates,
    read_traffic,
    record_traffic,
    shares,
    simulate_journeys,
    split_cents,
    summarise,
)
from lamas.economy.ledger import Ledger
from lamas.protocol.ledger import EntryKind, Outcome
from lamas.security.identity import PrivateKey
from lamas.store import create_engine

AUDIENCES = [
    Audience("navigator", reach=3.0, ctr=0.02, stage=0),
    Audience("railgo", reach=1.0, ctr=0.2),
    Audience("staywell", reach=1.0, ctr=0.25),
]


def journey(id: str, *touches: tuple[str, TouchKind], value: str | None = None) -> Journey:
    """A journey of (agent, kind) touches in the order given; converted if it has a value."""
    return Journey(
        id,
        tuple(Touch(agent, kind, float(at)) for at, (agent, kind) in enumerate(touches)),
        converted=value is not None,
        value=Decimal(value or 0),
    )


# An awareness agent's early impression, then the vendor the user clicked and booked.
AWARE = journey(
    "aware", ("nav", "impression"), ("rail", "impression"), ("rail", "click"), value="100.00"
)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(create_engine("sqlite://"), PrivateKey.generate())


# --- attribution ---------------------------------------------------------------------


def test_the_game_is_normalised_to_the_whole_conversion() -> None:
    v = conversion_game(AWARE)
    assert v(frozenset()) == 0.0
    assert v(frozenset({"nav", "rail"})) == pytest.approx(1.0)
    # p(nav) = 0.05, p(rail) = 1 - 0.95 * 0.75, p(both) = 1 - 0.95 * 0.95 * 0.75
    assert v(frozenset({"nav"})) == pytest.approx(0.05 / 0.323125)
    assert v(frozenset({"rail"})) == pytest.approx(0.2875 / 0.323125)


def test_an_early_impression_earns_a_share_under_shapley_and_nothing_under_last_touch() -> None:
    by_shapley = attribute(AWARE, "shapley")
    by_last = attribute(AWARE, "last_touch")
    # Shapley: nav's marginal is 0.05 alone and 0.035625 after rail, averaged, / p(both).
    assert by_shapley == {"nav": Decimal("13.25"), "rail": Decimal("86.75")}
    assert by_last == {"nav": Decimal("0.00"), "rail": Decimal("100.00")}


def test_shapley_is_efficient_on_every_simulated_conversion() -> None:
    converted = [j for j in simulate_journeys(AUDIENCES, 300, seed=3) if j.converted]
    assert len(converted) > 20
    for j in converted:
        for rule in ("shapley", "last_touch"):
            assert sum(shares(j, rule).values()) == pytest.approx(1.0)
            assert sum(attribute(j, rule).values()) == j.value  # exact, to the cent
        assert all(share > 0 for share in shares(j).values())  # every toucher helped


def test_identical_touches_get_identical_shapley_shares() -> None:
    j = journey(
        "twins",
        ("a", "impression"),
        ("a", "click"),
        ("b", "impression"),
        ("b", "click"),
        ("c", "impression"),
        value="100.01",
    )
    s = shares(j)
    assert s["a"] == pytest.approx(s["b"])
    assert s["c"] < s["a"]
    money = attribute(j)
    assert abs(money["a"] - money["b"]) <= Decimal("0.01")  # only the odd cent differs
    assert sum(money.values()) == Decimal("100.01")


def test_last_touch_gives_everything_to_the_last_click_else_the_last_impression() -> None:
    clicked_then_shown = journey(
        "j", ("a", "impression"), ("b", "click"), ("c", "impression"), value="9.00"
    )
    assert attribute(clicked_then_shown, "last_touch") == {
        "a": Decimal("0.00"),
        "b": Decimal("9.00"),
        "c": Decimal("0.00"),
    }
    two_clicks = journey("k", ("a", "click"), ("b", "click"), value="9.00")
    assert attribute(two_clicks, "last_touch")["b"] == Decimal("9.00")
    seen_only = journey("m", ("a", "impression"), ("b", "impression"), value="9.00")
    assert attribute(seen_only, "last_touch") == {"a": Decimal("0.00"), "b": Decimal("9.00")}


def test_touches_are_kept_in_time_order() -> None:
    j = Journey("j", (Touch("late", "click", 5), Touch("early", "impression", 1)), True, "3")  # type: ignore[arg-type]
    assert j.agents == ["early", "late"]
    assert j.value == Decimal("3.00")
    assert attribute(j, "last_touch")["late"] == Decimal("3.00")


def test_a_journey_without_touches_is_organic() -> None:
    organic = Journey("o", (), converted=True, value=Decimal("50.00"))
    assert shares(organic) == {}
    assert attribute(organic) == {}
    with pytest.raises(TrafficError, match="no touches"):
        conversion_game(organic)


@given(
    st.integers(0, 10**7),
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=8).filter(
        lambda xs: sum(xs) > 1e-9
    ),
)
@settings(max_examples=200, deadline=None)
def test_split_cents_never_creates_or_loses_a_cent(cents: int, weights: list[float]) -> None:
    amount = Decimal(cents) / 100
    split = split_cents(amount, {f"p{i}": w for i, w in enumerate(weights)})
    assert sum(split.values()) == amount
    assert all(share >= 0 for share in split.values())


def test_unknown_rule_and_bad_lifts_are_refused() -> None:
    with pytest.raises(TrafficError, match="unknown attribution rule"):
        shares(AWARE, "first_touch")  # type: ignore[arg-type]
    with pytest.raises(TrafficError, match="click lift"):
        LiftModel(click=0.0)


# --- rates and prices ----------------------------------------------------------------


def test_ctr_and_cvr_per_agent() -> None:
    journeys = [
        journey("1", ("a", "impression"), ("a", "click"), ("b", "impression"), value="10.00"),
        journey("2", ("a", "impression"), ("a", "click"), ("a", "click"), value="10.00"),
        journey("3", ("a", "impression"), ("a", "impression"), ("b", "impression")),
        journey("4", ("c", "click")),  # a click with no recorded impression
    ]
    got = rates(journeys)
    assert got["a"] == Rates(impressions=4, clicks=3, conversions=2)
    assert got["a"].ctr == pytest.approx(0.75)
    assert got["a"].cvr == pytest.approx(2 / 3)
    # b was only seen: CVR has no clicks to divide by; c was clicked but never seen.
    assert (got["b"].ctr, got["b"].cvr, got["b"].conversions) == (0.0, 0.0, 0)
    assert (got["c"].ctr, got["c"].cvr) == (0.0, 0.0)
    assert Rates().ctr == 0.0
    assert Rates().cvr == 0.0


def test_prices_are_exact_and_refuse_floats() -> None:
    prices = TrafficPrices(Decimal("2.00"), Decimal("0.35"), Decimal("4.00"), Decimal("0.025"))
    assert prices.impressions(1234) == Decimal("2.47")
    assert prices.clicks(3) == Decimal("1.05")
    assert prices.conversion(Decimal("199.99")) == Decimal("9.00")  # 4.00 + 4.99975
    with pytest.raises(TrafficError, match="not a float"):
        TrafficPrices(cpm=2.5)  # type: ignore[arg-type]
    with pytest.raises(TrafficError, match="at most 1"):
        TrafficPrices(cpa_rate=Decimal("1.5"))
    with pytest.raises(TrafficError, match="ISO 4217"):
        TrafficPrices(currency="euro")


def test_journeys_refuse_inexact_or_impossible_values() -> None:
    with pytest.raises(TrafficError, match="not a float"):
        Journey("j", (Touch("a"),), True, 9.99)  # type: ignore[arg-type]
    with pytest.raises(TrafficError, match="to the cent"):
        Journey("j", (Touch("a"),), True, Decimal("9.999"))
    with pytest.raises(TrafficError, match="did not convert"):
        Journey("j", (Touch("a"),), False, Decimal("5.00"))
    with pytest.raises(TrafficError, match="'impression' or a 'click'"):
        Touch("a", "view")  # type: ignore[arg-type]


def test_simulation_is_reproducible() -> None:
    first = simulate_journeys(AUDIENCES, 50, seed=11)
    assert first == simulate_journeys(AUDIENCES, 50, seed=11)
    assert first != simulate_journeys(AUDIENCES, 50, seed=12)
    # the awareness stage comes first in every journey
    for j in first:
        stages = [0 if t.agent == "navigator" else 1 for t in j.touches]
        assert stages == sorted(stages)


# --- the ledger ----------------------------------------------------------------------

SMALL = [
    journey("1", ("nav", "impression"), ("rail", "impression"), ("rail", "click"), value="100.00"),
    journey("2", ("nav", "impression"), ("nav", "click")),
    journey("3", ("rail", "impression")),
]
PRICES = TrafficPrices(Decimal("1000.00"), Decimal("0.50"), Decimal("4.00"), Decimal("0.01"))


def test_a_batch_is_recorded_as_priced_outcomes_and_credit(ledger: Ledger) -> None:
    report = record_traffic(
        ledger, SMALL, PRICES, batch="b1", owners={"nav": "navigator-maps", "rail": "railgo"}
    )
    assert ledger.verify().ok
    outcomes = [(e.task_id, e.agent, e.entity, e.payload) for e in ledger.entries(kind="outcome")]
    by = {(task, agent, p["basis"]): (p["units"], p["value"]) for task, agent, _, p in outcomes}
    assert by == {
        ("b1", "nav", "cpm"): (2, "2.00"),  # 1000.00 per mille
        ("b1", "nav", "cpc"): (1, "0.50"),
        ("b1", "rail", "cpm"): (2, "2.00"),
        ("b1", "rail", "cpc"): (1, "0.50"),
        ("b1/1", None, "cpa"): (1, "5.00"),  # 4.00 + 1 % of 100.00
    }
    assert {(a, e) for _, a, e, _ in outcomes if a} == {
        ("nav", "navigator-maps"),
        ("rail", "railgo"),
    }
    conversion = next(e for e in ledger.entries(kind="outcome") if e.task_id == "b1/1")
    credits = list(ledger.entries(kind="credit.allocated"))
    assert {e.agent: e.payload["amount"] for e in credits} == {"nav": "0.66", "rail": "4.34"}
    assert {e.payload["rule"] for e in credits} == {"shapley"}
    assert {e.payload["outcome"] for e in credits} == {conversion.sequence}
    assert report.agents["nav"].cpm == Decimal("2.00")
    assert report.agents["nav"].cpa == Decimal("0.66")
    assert report.agents["nav"].shapley == Decimal("13.25")
    assert report.agents["nav"].last_touch == Decimal("0.00")
    assert report.agents["rail"].revenue == Decimal("2.00") + Decimal("0.50") + Decimal("4.34")
    assert (report.conversions, report.conversion_value, report.fees) == (
        1,
        Decimal("100.00"),
        Decimal("5.00"),
    )


def test_reading_the_ledger_back_gives_the_same_report(ledger: Ledger) -> None:
    journeys = simulate_journeys(AUDIENCES, 200, seed=5)
    recorded = record_traffic(ledger, journeys, PRICES, batch="sim", rule="last_touch")
    assert recorded == summarise(journeys, PRICES, rule="last_touch")
    again = read_traffic(ledger, batch="sim")
    assert again == recorded
    assert again.rule == "last_touch"
    assert {a: t.rates for a, t in again.agents.items()} == rates(journeys)
    assert sum(t.cpa for t in again.agents.values()) == again.fees
    assert sum(t.shapley for t in again.agents.values()) == again.conversion_value
    assert ledger.verify().ok


def test_batches_are_read_alone_or_together(ledger: Ledger) -> None:
    record_traffic(ledger, SMALL, PRICES, batch="b1")
    record_traffic(ledger, SMALL, PRICES, batch="b2", rule="last_touch")
    # an outcome of some other task (not traffic) is left alone
    ledger.append(
        EntryKind.OUTCOME,
        task_id="t9",
        payload=Outcome(value=Decimal("3.00"), currency="EUR", basis="cpa"),
    )
    both = read_traffic(ledger)
    assert both.rule == "mixed"
    assert both.conversions == 2
    assert both.agents["nav"].rates.impressions == 4
    assert read_traffic(ledger, batch="b2").agents["nav"].cpa == Decimal("0.00")
    with pytest.raises(TrafficError, match="no traffic of batch 'b3'"):
        read_traffic(ledger, batch="b3")


def test_a_bad_batch_writes_nothing(ledger: Ledger) -> None:
    record_traffic(ledger, SMALL, PRICES, batch="b1")
    before = ledger.head()
    with pytest.raises(TrafficError, match="already in the ledger"):
        record_traffic(ledger, SMALL, PRICES, batch="b1")
    with pytest.raises(TrafficError, match="unique"):
        record_traffic(ledger, [*SMALL, SMALL[0]], PRICES, batch="b2")
    with pytest.raises(TrafficError, match="unknown attribution rule"):
        record_traffic(ledger, SMALL, PRICES, batch="b2", rule="first")  # type: ignore[arg-type]
    assert ledger.head() == before


def test_an_empty_ledger_has_no_traffic(ledger: Ledger) -> None:
    with pytest.raises(TrafficError, match="no traffic"):
        read_traffic(ledger)


# --- the command line ----------------------------------------------------------------

runner = CliRunner()


def rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│")]


def test_simulate_then_report_from_the_ledger(lamas_home: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/l.db"
    simulated = runner.invoke(
        traffic_app, ["simulate", "--journeys", "150", "--seed", "4", "--db", db]
    )
    assert simulated.exit_code == 0, simulated.output
    assert "traffic-s4-n150" in simulated.stdout
    for header in ("CTR", "CVR", "CPM", "CPC", "CPA", "value: Shapley", "value: last touch"):
        assert header in simulated.stdout
    agents = {line.split("│")[1].strip() for line in rows(simulated.stdout)}
    assert agents == {"navigator", "railgo", "swiftrail", "staywell", "total"}
    reported = runner.invoke(traffic_app, ["report", "--db", db])
    assert reported.exit_code == 0, reported.output
    assert rows(reported.stdout) == rows(simulated.stdout)
    ledger = Ledger(create_engine(db))
    assert ledger.verify().ok
    report = read_traffic(ledger)
    total = next(line for line in rows(reported.stdout) if "total" in line)
    assert str(report.conversion_value) in total
    again = runner.invoke(traffic_app, ["simulate", "--journeys", "150", "--seed", "4", "--db", db])
    assert again.exit_code == 2
    assert "already in the ledger" in again.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["simulate", "--journeys", "-5"], "--journeys must be 1 or more"),
        (["simulate", "--rule", "first_touch"], "--rule must be one of"),
        (["simulate", "--cpm", "cheap"], "--cpm must be a decimal amount"),
        (["report"], "no traffic"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    lamas_home: Path, tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = runner.invoke(traffic_app, [*arguments, "--db", f"sqlite:///{tmp_path}/l.db"])
    assert result.exit_code == 2
    assert message in result.output


def test_a_journey_of_many_agents_is_still_shared_exactly() -> None:
    crowd = journey("crowd", *((f"a{i}", "impression") for i in range(30)), value="30.00")
    money = attribute(crowd)  # 30 agents: 2^30 coalitions, so Shapley samples orders
    assert sum(money.values()) == Decimal("30.00")  # still efficient, exactly
    assert all(abs(share - 1) <= Decimal("0.10") for share in money.values())  # ~symmetric
    assert attribute(crowd) == money  # and seeded


def test_the_summary_line_equals_the_tables_total(lamas_home: Path, tmp_path: Path) -> None:
    """The title's conversions, value and fees are the total row's conv., value and CPA."""
    import re

    db = f"sqlite:///{tmp_path}/l.db"
    result = runner.invoke(
        traffic_app, ["simulate", "--journeys", "200", "--seed", "0", "--db", db]
    )
    assert result.exit_code == 0, result.output
    title = re.search(
        r"(\d+) conversions worth ([\d.]+) EUR, fees ([\d.]+) EUR", result.stdout.replace("\n", " ")
    )
    assert title is not None, result.stdout
    conversions, value, fees = title.groups()
    headers = [
        c.strip()
        for c in next(line for line in result.stdout.splitlines() if line.startswith("┃")).split(
            "┃"
        )[1:-1]
    ]
    total = dict(
        zip(
            headers,
            (
                c.strip()
                for c in next(line for line in rows(result.stdout) if "total" in line).split("│")[
                    1:-1
                ]
            ),
            strict=True,
        )
    )
    assert total["conv."] == conversions
    assert total["value: Shapley"] == total["value: last touch"] == value
    assert total["CPA"] == fees
    recorded = re.search(r"(\d+) journeys, (\d+) converted", result.stdout)
    assert recorded is not None
    assert recorded.group(2) == conversions


def test_the_traffic_table_is_readable_at_80_columns() -> None:
    """Two tables, no line over 80 characters, no cell cut ("…"), every figure present."""
    from rich.console import Console

    from lamas.cli.traffic import show

    journeys = simulate_journeys(
        [Audience("navigator", 3.0, 0.02, 0), Audience("staywell-agent", 1.0, 0.25, 1)],
        120,
        seed=3,
    )
    report = summarise(journeys)
    console = Console(width=80, record=True, color_system=None)
    show(report, "traffic", console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    assert "staywell-agent" in text
    assert str(report.conversion_value) in text
    assert text.count("total") >= 2
