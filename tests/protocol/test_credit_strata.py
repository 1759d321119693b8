"""Stratified Shapley sampling against exact values, its stop rules, and bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lamas.protocol.credit import CreditError, shapley
from lamas.protocol.credit_strata import WeightedVotingGame, shapley_stratified


def _vote(n: int = 11, seed: int = 3) -> WeightedVotingGame:
    weights = np.random.default_rng(seed).integers(1, 10, n)
    players = [f"p{i}" for i in range(n)]
    return WeightedVotingGame(
        dict(zip(players, weights.tolist(), strict=True)), weights.sum() // 2 + 1
    )


class Cubic:
    """v(S) = a.S + (s.S)^3: float marginals, Shapley values from the exact method."""

    def __init__(self, n: int = 9) -> None:
        rng = np.random.default_rng(5)
        self.players = [f"q{i}" for i in range(n)]
        self.a, self.s = rng.uniform(1, 2, n), rng.uniform(0, 1, n)

    def __call__(self, coalition: frozenset[str]) -> float:
        mask = np.array([[p in coalition for p in self.players]])
        return float(self.values(mask)[0])

    def values(self, members: np.ndarray) -> np.ndarray:
        return np.asarray(members @ self.a + (members @ self.s) ** 3)

    def marginals(self, members: np.ndarray) -> np.ndarray:
        rest = (members @ self.s)[:, None] - members * self.s
        return np.asarray(self.a + (rest + self.s) ** 3 - rest**3)


def _errors(game: Any, **options: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    exact = shapley(game.players, game)
    est = shapley_stratified(game, seed=2, **options)
    got = np.array([est.values[p] for p in game.players])
    se = np.array([est.standard_errors[p] for p in game.players])
    return got - np.array([exact[p] for p in game.players]), se, est


def test_a_weighted_vote_is_estimated_within_its_stated_errors() -> None:
    error, se, est = _errors(_vote(), max_coalitions=60_000)
    assert est.stopped == "samples"
    assert est.samples <= 60_000
    assert np.all(np.abs(error) <= 4 * se + 1e-12), (error, se)
    assert np.abs(error).max() < 0.01  # shares are ~0.09: within ~10 % of the mean share
    assert est.total == 1.0  # v(N) - v(empty), exact


def test_float_marginals_are_estimated_within_their_stated_errors() -> None:
    error, se, _ = _errors(Cubic(), max_coalitions=20_000)
    assert np.all(np.abs(error) <= 4 * se + 1e-12), (error, se)


def test_the_tolerance_stops_sampling_once_every_error_is_under_it() -> None:
    game = _vote()
    est = shapley_stratified(game, relative_tolerance=0.02, seed=1)
    assert est.stopped == "tolerance"
    assert est.converged is True
    largest = max(abs(v) for v in est.values.values())
    assert est.max_standard_error < 0.02 * largest
    looser = shapley_stratified(game, relative_tolerance=0.1, seed=1)
    assert looser.samples < est.samples  # a looser tolerance stops sooner


def test_a_spent_budget_is_said() -> None:
    est = shapley_stratified(_vote(), tolerance=1e-9, max_coalitions=500, seed=1)
    assert est.stopped == "samples"
    assert est.converged is False
    assert est.samples <= 500
    timed = shapley_stratified(_vote(40), tolerance=1e-9, time_limit=0.3, seed=1)
    assert timed.stopped == "time"
    assert timed.converged is False
    assert timed.seconds < 5  # one round past the limit at most, on a loaded machine


def test_the_same_seed_gives_the_same_estimate() -> None:
    one = shapley_stratified(_vote(), max_coalitions=3000, seed=9)
    assert one.values == shapley_stratified(_vote(), max_coalitions=3000, seed=9).values
    assert one.values != shapley_stratified(_vote(), max_coalitions=3000, seed=10).values


def test_two_worker_processes_reach_the_exact_values_too() -> None:
    error, se, est = _errors(_vote(), max_coalitions=60_000, workers=2)
    assert est.samples > 50_000
    assert np.all(np.abs(error) <= 4 * se + 1e-12), (error, se)


def test_the_vote_as_a_function_agrees_with_its_marginals() -> None:
    game = _vote(6)
    rng = np.random.default_rng(0)
    members = rng.random((50, 6)) < 0.5
    marginal = game.marginals(members)
    for row, mask in enumerate(members):
        for j, player in enumerate(game.players):
            inside = frozenset(p for p, m in zip(game.players, mask, strict=True) if m)
            want = game(inside | {player}) - game(inside - {player})
            assert marginal[row, j] == want


@pytest.mark.parametrize(
    ("weights", "share"),
    [
        ([5, 1, 8, 3, 3, 0, 7, 2, 8, 1] * 6, 0.5),  # whole weights, unsorted, a zero
        ((np.random.default_rng(4).random(60) * 3).tolist(), 0.6),  # floats: all distinct
        ([3] * 500 + [2] * 500, 0.5),  # the benchmark's hard vote, heaviest first
    ],
)
def test_the_votes_pivot_counts_are_its_marginals_summed(
    weights: list[float], share: float
) -> None:
    """`pivotal_counts` (what the sampler uses) against the column sums of `marginals`,
    split by membership, on coalitions of every kind of size (empty, full, around the
    quota)."""
    from lamas.protocol.credit_strata import _coalitions

    n = len(weights)
    game = WeightedVotingGame({f"p{i}": w for i, w in enumerate(weights)}, sum(weights) * share)
    rng = np.random.default_rng(1)
    for size in sorted({0, 1, n // 3, n // 2, n // 2 + 1, 2 * n // 3, n - 1, n}):
        members = _coalitions(rng, 97, n, size)
        pivotal = game.marginals(members)
        inside, outside = game.pivotal_counts(members)
        assert inside.tolist() == (pivotal & members).sum(axis=0).tolist(), size
        assert outside.tolist() == (pivotal & ~members).sum(axis=0).tolist(), size


def test_pivot_counts_refuse_a_matrix_that_is_not_one_boolean_column_per_player() -> None:
    game = _vote(6)
    for bad in (np.zeros((3, 6)), np.zeros((3, 5), dtype=bool), np.zeros(6, dtype=bool)):
        with pytest.raises(CreditError, match="boolean matrix with one column per player"):
            game.pivotal_counts(bad)


def test_drawn_coalitions_have_their_size_and_every_player_alike() -> None:
    """Uniform subsets: each of exactly `size` players, each player in them as often."""
    from lamas.protocol.credit_strata import _coalitions

    members = _coalitions(np.random.default_rng(7), 20_000, 40, 10)
    assert (members.sum(axis=1) == 10).all()
    share = members.mean(axis=0)  # 1/4 each, within 5 standard errors
    assert np.abs(share - 0.25).max() < 5 * np.sqrt(0.25 * 0.75 / 20_000)


@pytest.mark.parametrize(
    ("weights", "quota", "message"),
    [
        ({"a": -1, "b": 2}, 2, "weights must be finite"),
        ({"a": float("nan"), "b": 2}, 2, "weights must be finite"),
        ({"a": 1, "b": 2}, 0, "quota must be"),
        ({"a": 1, "b": 2}, float("inf"), "quota must be"),
    ],
)
def test_a_bad_vote_is_refused_by_name(
    weights: dict[str, float], quota: float, message: str
) -> None:
    with pytest.raises(CreditError, match=message):
        WeightedVotingGame(weights, quota)


def test_bad_options_and_bad_games_are_refused() -> None:
    with pytest.raises(ValueError, match="give a tolerance"):
        shapley_stratified(_vote())
    with pytest.raises(ValueError, match="relative_tolerance"):
        shapley_stratified(_vote(), relative_tolerance=1.5)
    with pytest.raises(ValueError, match="workers"):
        shapley_stratified(_vote(), max_coalitions=10, workers=0)
    with pytest.raises(ValueError, match="max_coalitions"):
        shapley_stratified(_vote(), max_coalitions=True)

    class Wrong(Cubic):
        def marginals(self, members: np.ndarray) -> np.ndarray:
            return np.zeros((1, 1))

    with pytest.raises(CreditError, match="one number per coalition and player"):
        shapley_stratified(Wrong(), max_coalitions=100)

    class NotFinite(Cubic):
        def marginals(self, members: np.ndarray) -> np.ndarray:
            return np.full(members.shape, np.nan)

    with pytest.raises(CreditError, match="not a finite number"):
        shapley_stratified(NotFinite(), max_coalitions=100)


def test_too_many_players_are_refused_before_any_memory_is_taken() -> None:
    game = WeightedVotingGame({f"p{i}": 1 for i in range(5000)}, 10)
    with pytest.raises(CreditError, match="at most 4096"):
        shapley_stratified(game, max_coalitions=10)


def test_no_players_is_an_empty_estimate() -> None:
    est = shapley_stratified(WeightedVotingGame({}, 1), max_coalitions=10)
    assert est.values == {}
    assert est.samples == 0
