"""Credit allocation: exact and Monte Carlo Shapley against a rational reference, the axioms
as properties, the simpler rules, task games, and propagation to sub-teams."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamas.errors import InputError
from lamas.protocol import credit
from lamas.protocol.credit import (
    CreditError,
    SubTeam,
    compare,
    equal_split,
    last_touch,
    leave_one_out,
    propagate,
    proportional,
    shapley,
    shapley_estimate,
    task_value_function,
)

Game = Callable[[frozenset[str]], float]
NAMES = tuple("abcdefgh")


def reference(players: Sequence[str], value: Game) -> dict[str, Fraction]:
    """Shapley by the textbook formula, in exact rationals: slow, obviously right."""
    n = len(players)
    out = {}
    for p in players:
        others = [q for q in players if q != p]
        total = Fraction(0)
        for size in range(n):
            weight = Fraction(
                math.factorial(size) * math.factorial(n - size - 1), math.factorial(n)
            )
            for members in itertools.combinations(others, size):
                s = frozenset(members)
                total += weight * (Fraction(value(s | {p})) - Fraction(value(s)))
        out[p] = total
    return out


def table_game(players: Sequence[str], values: Sequence[float]) -> Game:
    """The game whose value at the coalition with bitmask m (bit i = players[i]) is values[m]."""
    bit = {p: 1 << i for i, p in enumerate(players)}
    return lambda s: values[sum(bit[p] for p in s)]


@st.composite
def games(draw: st.DrawFn, low: int = 1, high: int = 6) -> tuple[tuple[str, ...], Game]:
    n = draw(st.integers(low, high))
    values = draw(st.lists(st.integers(-100, 100), min_size=1 << n, max_size=1 << n))
    players = NAMES[:n]
    return players, table_game(players, values)


def additive(weights: dict[str, float]) -> Game:
    return lambda s: math.fsum(weights[p] for p in s)


# --- exact Shapley ---------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(games())
def test_exact_matches_the_rational_reference(game: tuple[tuple[str, ...], Game]) -> None:
    players, value = game
    got = shapley(players, value)
    assert list(got) == list(players)
    for p, want in reference(players, value).items():
        assert got[p] == pytest.approx(float(want), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(games(low=0))
def test_exact_is_efficient(game: tuple[tuple[str, ...], Game]) -> None:
    players, value = game
    got = shapley(players, value)
    whole = value(frozenset(players)) - value(frozenset())
    assert math.fsum(got.values()) == pytest.approx(whole, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=2, max_size=7), st.integers(0, 2**32))
def test_interchangeable_players_get_equal_shares(types: list[int], seed: int) -> None:
    """A game that sees only how many players of each type a coalition has."""
    players = NAMES[: len(types)]
    kind = dict(zip(players, types, strict=True))
    rng = random.Random(seed)
    table: dict[tuple[int, ...], float] = {}

    def value(s: frozenset[str]) -> float:
        counts = tuple(sum(1 for p in s if kind[p] == t) for t in range(3))
        return table.setdefault(counts, rng.uniform(-10, 10))

    got = shapley(players, value)
    for p, q in itertools.combinations(players, 2):
        if kind[p] == kind[q]:
            assert got[p] == pytest.approx(got[q], abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(games(high=5))
def test_null_player_gets_nothing(game: tuple[tuple[str, ...], Game]) -> None:
    players, value = game
    got = shapley((*players, "idle"), lambda s: value(s - {"idle"}))
    assert got["idle"] == pytest.approx(0.0, abs=1e-9)
    assert {p: got[p] for p in players} == pytest.approx(shapley(players, value), abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            *(st.lists(st.floats(-1e3, 1e3), min_size=1 << n, max_size=1 << n),) * 2
        )
    )
)
def test_additivity(tables: tuple[list[float], list[float]]) -> None:
    v_table, w_table = tables
    players = NAMES[: len(v_table).bit_length() - 1]
    v, w = table_game(players, v_table), table_game(players, w_table)
    both = shapley(players, lambda s: v(s) + w(s))
    apart = {
        p: a + b
        for (p, a), b in zip(shapley(players, v).items(), shapley(players, w).values(), strict=True)
    }
    assert both == pytest.approx(apart, abs=1e-7)


def cubic_game(n: int, seed: int = 0) -> tuple[list[str], Game, dict[str, float]]:
    """v(S) = sum of a_i + beta (sum of s_i)^3 over S, and its Shapley values in closed form:
    the Harsanyi dividends of the cube split equally among the 1, 2 or 3 players in each."""
    rng = random.Random(seed)
    players = [f"agent-{i:02d}" for i in range(n)]
    a = {p: rng.uniform(1, 2) for p in players}
    s = {p: rng.uniform(0, 1) for p in players}
    beta = 0.01
    sigma, q = math.fsum(s.values()), math.fsum(x * x for x in s.values())

    def value(c: frozenset[str]) -> float:
        return math.fsum(a[p] for p in c) + beta * math.fsum(s[p] for p in c) ** 3

    closed = {}
    for p in players:
        x = s[p]
        pairs = ((sigma - x) ** 2 - (q - x * x)) / 2  # sum of s_j s_k over j < k, both not p
        closed[p] = a[p] + beta * (
            x**3 + 1.5 * x * x * (sigma - x) + 1.5 * x * (q - x * x) + 2 * x * pairs
        )
    return players, value, closed


def test_exact_over_several_chunks_matches_a_closed_form() -> None:
    """16 players: coalitions come in 4 chunks of 2^14, so the high bits are exercised."""
    players, value, closed = cubic_game(16)
    assert shapley(players, value) == pytest.approx(closed, rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(games(low=3))
def test_exact_with_tiny_chunks_matches_the_reference(game: tuple[tuple[str, ...], Game]) -> None:
    players, value = game
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(credit, "_CHUNK_BITS", 1)
        got = shapley(players, value)
    for p, want in reference(players, value).items():
        assert got[p] == pytest.approx(float(want), abs=1e-9)


def test_a_large_constant_costs_no_precision() -> None:
    players = NAMES[:5]
    weights = {p: i + 1.0 for i, p in enumerate(players)}
    got = shapley(players, lambda s: 1e12 + additive(weights)(s))
    assert got == pytest.approx(weights, abs=1e-3)


def test_exact_refuses_more_than_25_players_before_calling_value() -> None:
    def never(s: frozenset[str]) -> float:
        raise AssertionError("value was called")

    with pytest.raises(CreditError, match="monte_carlo"):
        shapley([f"p{i}" for i in range(26)], never)


def test_no_players_no_shares() -> None:
    assert shapley([], len) == {}
    assert shapley([], len, method="monte_carlo") == {}
    assert shapley_estimate([], len).samples == 0


def test_duplicate_players_are_refused() -> None:
    with pytest.raises(CreditError, match="repeated: a"):
        shapley(["a", "b", "a"], len)
    with pytest.raises(InputError):
        shapley_estimate(["a", "a"], len)


@pytest.mark.parametrize("method", ["exact", "monte_carlo"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, None, "3", 1j, [1.0]])
def test_a_bad_value_names_its_coalition(method: Any, bad: Any) -> None:
    def value(s: frozenset[str]) -> Any:
        return bad if s == {"a", "c"} else float(len(s))

    with pytest.raises(CreditError, match=r"coalition \{a, c\} is"):
        shapley(["a", "b", "c"], value, method=method)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown Shapley method"):
        shapley(["a"], len, method="banzhaf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="monte_carlo"):
        shapley(["a"], len, samples=10)
    with pytest.raises(ValueError, match="samples"):
        shapley_estimate(["a"], len, samples=0)
    with pytest.raises(ValueError, match="tolerance"):
        shapley_estimate(["a"], len, tolerance=-1.0)


def test_values_may_be_ints_bools_or_numpy_numbers() -> None:
    import numpy as np

    assert shapley("ab", lambda s: len(s) == 2) == {"a": 0.5, "b": 0.5}

    def single(s: frozenset[str]) -> Any:
        return np.float32(len(s))

    assert shapley("ab", single) == {"a": 1.0, "b": 1.0}


# --- Monte Carlo -------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, derandomize=True)
@given(games(low=2, high=5), st.integers(0, 2**32), st.booleans())
def test_monte_carlo_is_efficient_and_within_a_few_standard_errors(
    game: tuple[tuple[str, ...], Game], seed: int, antithetic: bool
) -> None:
    players, value = game
    est = shapley_estimate(players, value, samples=400, seed=seed, antithetic=antithetic)
    whole = value(frozenset(players)) - value(frozenset())
    assert est.total == whole
    assert math.fsum(est.values.values()) == pytest.approx(whole, abs=1e-9)
    exact = shapley(players, value)
    for p in players:
        assert abs(est.values[p] - exact[p]) <= 5 * est.standard_errors[p] + 1e-9


def test_monte_carlo_is_reproducible_with_a_seed() -> None:
    players, value, _ = cubic_game(8)
    one = shapley_estimate(players, value, samples=50, seed=7)
    assert one == shapley_estimate(players, value, samples=50, seed=7)
    assert one.values == shapley_estimate(players, value, samples=50, seed=7).values
    assert one.values != shapley_estimate(players, value, samples=50, seed=8).values


def test_antithetic_pairs_recover_pairwise_games_exactly() -> None:
    """Degree-2 games: an order and its reverse see each player's full synergy once."""
    rng = random.Random(3)
    players = [f"p{i}" for i in range(40)]
    a = {p: rng.uniform(0, 5) for p in players}
    b = {frozenset(pq): rng.uniform(-1, 1) for pq in itertools.combinations(players, 2)}

    def value(s: frozenset[str]) -> float:
        return math.fsum(a[p] for p in s) + math.fsum(
            b[frozenset(pq)] for pq in itertools.combinations(sorted(s), 2)
        )

    closed = {p: a[p] + sum(w for pq, w in b.items() if p in pq) / 2 for p in players}
    est = shapley_estimate(players, value, samples=2, seed=0)
    assert est.values == pytest.approx(closed, abs=1e-9)
    plain = shapley_estimate(players, value, samples=2, seed=0, antithetic=False)
    assert plain.values != pytest.approx(closed, abs=1e-3)


def test_tolerance_stops_sampling_early() -> None:
    players, value, closed = cubic_game(10)
    est = shapley_estimate(players, value, samples=10_000, seed=1, tolerance=0.01)
    assert est.converged is True
    assert est.samples < 10_000
    assert est.max_standard_error < 0.01
    assert est.values == pytest.approx(closed, abs=5 * 0.01)
    assert est.bound() == pytest.approx(3 * est.max_standard_error)


def test_a_tolerance_out_of_reach_says_so() -> None:
    players, value, _ = cubic_game(10)
    est = shapley_estimate(players, value, samples=40, seed=1, tolerance=1e-9)
    assert (est.converged, est.samples) == (False, 40)
    assert shapley_estimate(players, value, samples=41, seed=1).samples == 42  # pairs
    assert shapley_estimate(players, value, samples=40, seed=1).converged is None


def test_a_relative_tolerance_is_against_the_largest_share() -> None:
    players, value, closed = cubic_game(10)
    est = shapley_estimate(players, value, samples=100_000, seed=1, relative_tolerance=0.005)
    assert (est.converged, est.stopped) == (True, "tolerance")
    largest = max(abs(v) for v in est.values.values())
    assert est.max_standard_error < 0.005 * largest
    assert est.values == pytest.approx(closed, abs=5 * 0.005 * largest)


def test_a_time_limit_stops_sampling_and_says_so() -> None:
    players, value, _ = cubic_game(200)
    est = shapley_estimate(
        players, value, samples=10**9, seed=1, relative_tolerance=1e-6, time_limit=0.3
    )
    assert (est.converged, est.stopped) == (False, "time")
    assert 0.3 <= est.seconds < 3.0
    assert 0 < est.samples < 10**9


def test_a_spent_sample_budget_says_so() -> None:
    players, value, _ = cubic_game(10)
    est = shapley_estimate(players, value, samples=20, seed=1, tolerance=1e-9)
    assert (est.converged, est.stopped) == (False, "samples")


@pytest.mark.parametrize(
    "bad", [{"relative_tolerance": 0.0}, {"relative_tolerance": 1.5}, {"time_limit": -1.0}]
)
def test_bad_stop_rules_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        shapley_estimate(["a", "b"], len, **bad)  # type: ignore[arg-type]


def test_monte_carlo_over_many_players_is_efficient() -> None:
    players, value, closed = cubic_game(300)
    est = shapley_estimate(players, value, samples=4, seed=0)
    assert math.fsum(est.values.values()) == pytest.approx(math.fsum(closed.values()), rel=1e-12)
    assert est.samples == 4


def test_a_single_player_is_exact_from_one_sample() -> None:
    est = shapley_estimate(["solo"], lambda s: 5.0 if s else 1.0, samples=1, antithetic=False)
    assert (est.values, est.standard_errors) == ({"solo": 4.0}, {"solo": 0.0})


# --- simpler rules ----------------------------------------------------------------------


def test_equal_split() -> None:
    assert equal_split("abcd", 10) == {"a": 2.5, "b": 2.5, "c": 2.5, "d": 2.5}
    assert equal_split([], 10) == {}
    with pytest.raises(CreditError, match="finite"):
        equal_split("ab", math.nan)


def test_proportional() -> None:
    assert proportional("abc", {"a": 3, "b": 1}, 8) == {"a": 6.0, "b": 2.0, "c": 0.0}
    assert proportional("ab", {}, 8) == {"a": 4.0, "b": 4.0}  # nobody used anything
    with pytest.raises(CreditError, match="not players: z"):
        proportional("ab", {"z": 1.0}, 8)
    with pytest.raises(CreditError, match="negative"):
        proportional("ab", {"a": -1.0}, 8)


def test_leave_one_out_is_normalised_and_fails_on_substitutes() -> None:
    # a and b are complements, c adds 2 on its own
    def value(s: frozenset[str]) -> float:
        return 6.0 * ({"a", "b"} <= s) + 2.0 * ("c" in s)

    got = leave_one_out("abc", value)
    assert got == pytest.approx({"a": 8 * 6 / 14, "b": 8 * 6 / 14, "c": 8 * 2 / 14})
    # two vendors who can each do the only step: neither is missed, so the raw zeros stand
    assert leave_one_out("ab", lambda s: float(bool(s))) == {"a": 0.0, "b": 0.0}
    assert shapley("ab", lambda s: float(bool(s))) == {"a": 0.5, "b": 0.5}


def test_last_touch() -> None:
    assert last_touch(["a", "b", "a", "c", "b"], 9) == {"a": 0.0, "b": 9.0, "c": 0.0}
    assert last_touch([], 9) == {}


def test_compare_puts_every_rule_side_by_side() -> None:
    players, value, closed = cubic_game(5)
    table = compare(players, value, resources={players[0]: 1.0}, order=players[::-1])
    assert set(table) == {"shapley", "leave_one_out", "equal_split", "proportional", "last_touch"}
    whole = value(frozenset(players))
    for method, shares in table.items():
        assert list(shares) == players, method
        assert math.fsum(shares.values()) == pytest.approx(whole), method
    assert table["shapley"] == pytest.approx(closed)
    assert table["last_touch"][players[0]] == pytest.approx(whole)
    assert set(compare(players, value)) == {"shapley", "leave_one_out", "equal_split"}
    with pytest.raises(CreditError, match="touch order"):
        compare(players, value, order=["stranger"])


# --- task games ------------------------------------------------------------------------


def test_task_value_follows_the_documented_formula() -> None:
    v = task_value_function(
        [
            ("plan", "orch", True, 0.0),
            ("ticket", {"rail", "bus"}, True, 0.0),
            ("hotel", "inn", False, 0.2),
        ],
        100.0,
    )
    assert v(frozenset({"orch", "rail", "inn"})) == pytest.approx(100.0)
    assert v(frozenset({"orch", "bus"})) == pytest.approx(80.0)
    assert v(frozenset({"orch", "inn"})) == 0.0  # no ticket: nothing happened
    assert v(frozenset({"rail", "bus", "inn"})) == 0.0


def test_competing_vendors_split_a_step_only_when_both_take_part() -> None:
    steps = [("plan", "orch", True, 0.0), ("ticket", ["rail", "bus"], True, 0.0)]
    v = task_value_function(steps, 90.0)
    assert shapley(["orch", "rail"], v) == pytest.approx({"orch": 45.0, "rail": 45.0})
    assert shapley(["orch", "rail", "bus"], v) == pytest.approx(
        {"orch": 60.0, "rail": 15.0, "bus": 15.0}
    )


def test_an_optional_share_is_split_with_the_required_agents() -> None:
    steps = [("plan", "orch", True, 0), ("ticket", "rail", True, 0), ("hotel", "inn", False, 0.3)]
    got = shapley(["orch", "rail", "inn"], task_value_function(steps, 90.0))
    assert got == pytest.approx({"orch": 40.5, "rail": 40.5, "inn": 9.0})  # 27 / 3


@pytest.mark.parametrize(
    ("steps", "match"),
    [
        ([("s", "a", True, 0.5)], "required step 's' has share"),
        ([("s", "a", False, 0.7), ("t", "b", False, 0.6)], "above 1"),
        ([("s", "a", True, 0), ("s", "b", True, 0)], "twice"),
        ([("s", set(), True, 0)], "no agent"),
        ([("s", "a", False, -0.1)], r"\[0, 1\]"),
        ([("s", "a", False, math.nan)], "finite"),
    ],
)
def test_task_records_that_make_no_sense_are_refused(steps: list[Any], match: str) -> None:
    with pytest.raises(CreditError, match=match):
        task_value_function(steps, 10.0)


# --- propagation -----------------------------------------------------------------------


def test_propagate_passes_a_fraction_down_by_shapley_and_recurses() -> None:
    teams = {
        "hotel": SubTeam(("cleaner", "concierge"), additive({"cleaner": 1, "concierge": 3}), 0.4),
        "concierge": SubTeam(("driver",), lambda s: float(len(s)), 0.5),
    }
    got = propagate({"hotel": 100.0, "train": 50.0}, teams)
    assert got == pytest.approx(
        {"hotel": 60.0, "train": 50.0, "cleaner": 10.0, "concierge": 15.0, "driver": 15.0}
    )


def test_an_agent_paid_at_two_levels_passes_down_from_all_it_earns() -> None:
    teams = {
        "a": SubTeam(("b",), len, 0.5),
        "b": SubTeam(("b", "c"), additive({"b": 1.0, "c": 1.0}), 1.0),
    }
    got = propagate({"a": 40.0, "b": 20.0}, teams)
    # b earns 20 + 20, then passes all of it to its team, of which it is half
    assert got == pytest.approx({"a": 20.0, "b": 20.0, "c": 20.0})


def test_propagation_refuses_loops_and_teams_that_create_nothing() -> None:
    loop = {"a": SubTeam(("b",), len, 0.5), "b": SubTeam(("a",), len, 0.5)}
    with pytest.raises(CreditError, match="a -> b -> a"):
        propagate({"a": 1.0}, loop)
    with pytest.raises(CreditError, match="creates no value"):
        propagate({"a": 1.0}, {"a": SubTeam(("b",), lambda s: 3.0, 0.5)})
    with pytest.raises(CreditError, match=r"\[0, 1\]"):
        SubTeam(("b",), len, 1.5)
    with pytest.raises(CreditError, match="at least one"):
        SubTeam((), len, 0.5)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.sampled_from(NAMES[:4]), st.floats(-100, 100), min_size=1),
    st.lists(st.tuples(st.sampled_from(NAMES), st.floats(0, 1), st.integers(0, 2**32)), max_size=6),
)
def test_propagation_preserves_the_total(
    top: dict[str, float], links: list[tuple[str, float, int]]
) -> None:
    """Random sub-teams drawn only from later names, so that subcontracting cannot loop."""
    teams = {}
    for agent, fraction, seed in links:
        later = NAMES[NAMES.index(agent) + 1 :]
        if not later or agent in teams:
            continue
        rng = random.Random(seed)
        members = tuple(rng.sample(later, rng.randint(1, min(3, len(later)))))
        weights = {m: rng.uniform(0.1, 2) for m in members}
        teams[agent] = SubTeam(members, additive(weights), fraction)
    got = propagate(top, teams)
    assert math.fsum(got.values()) == pytest.approx(math.fsum(top.values()), abs=1e-9)
    for agent in top:
        assert agent in got
