"""Credit allocation benchmark: exact and Monte Carlo Shapley, with a naive baseline, in one run.

(A) exact Shapley at n = 10, 15, 20: seconds, and how they split between building the 2^n
    coalition values (frozensets + calls of the value function) and the Shapley arithmetic.
(B) baseline: the textbook pure-Python exact Shapley (for each player, each coalition
    without it: rebuild both coalitions, value them, weigh the difference) at n = 10, 12,
    against lamas at the same n: the speed-up.
(C) Monte Carlo (antithetic permutation pairs) at n = 100 and 1000, against Shapley values
    known in closed form: seconds, permutations, each player's relative error (max, mean),
    the total's relative error, the stated bound (3 standard errors) and how many players
    it really covers. Also n = 100 without antithetic pairs, and an airport game, whose
    rare large marginals are the hard case for sampling.
(E) the issue-19 target, n = 1000: each player's error under 1 % of the largest value,
    within 10 s on 2 cores. `shapley_stratified` (stratified by position, every player's
    marginal per coalition in numpy, Neyman allocation, 2 worker processes) stops when 3
    standard errors are under 0.6 % of the largest share (a margin below the target) or at
    9.5 s (said in "stopped");
    errors are against exact values, for the cubic game and two weighted voting games
    (exact by the two-class hypergeometric formula), where a marginal is a rare 0/1 event:
    the hard case for sampling. Baseline in the same run: permutation sampling
    (`shapley_estimate`, antithetic pairs) with the same stop rule and time. Each row gives
    wall and CPU seconds (this process and its workers) and the load average around it:
    on a loaded machine the wall figure says little, the CPU figure more. With
    `--seeds 1 2 3`, the stratified sampler runs once per seed (each a row). With
    `--cpu-budget`, a game whose time ran out is sampled again on as many coalitions as
    two idle cores would value in 9.5 s at the pace measured (19 CPU-s): labelled as such,
    an estimate of the idle machine, not a wall-clock measurement.
(D) ledger: append/verify figures, once `lamas.economy.ledger` provides them (see
    `ledger_rows`).

The game of (A)-(C): v(S) = sum of a_i + beta (sum of s_i)^3 over S, a_i in [1, 2],
s_i in [0, 1], beta so that the synergy is worth as much as the additive part over all
players. Cheap (two C-level sums per call), and of degree 3, so that antithetic pairs do
not cancel its variance entirely (they do for degree <= 2). Its Shapley values: each
Harsanyi dividend of the cube is split equally among the 1, 2 or 3 players it names.

Run: `python benchmarks/credit.py [--quick]`. Prints a table and writes JSON to
benchmarks/results/credit-latest.json.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from _results import finish  # benchmarks/ is on the path when run as a script

from lamas.protocol import credit
from lamas.protocol.credit import shapley, shapley_estimate
from lamas.protocol.credit_strata import MarginalGame, WeightedVotingGame, shapley_stratified

# The n = 1000 target is checked on (E), per player, for every game. The permutation row
# of (C) at n = 1000 is reported (time, errors) but no longer checked: its old check, that
# the values sum to v(N), holds by construction for whole orders and said nothing.
TARGETS = {
    "exact_n20_seconds": 5.0,
    "voting_n1000_max_error_of_max": 0.01,
    "voting_n1000_max_seconds": 10.0,
}
MC_TARGET_OF_MAX = 0.01  # each player's error under 1 % of the largest value (issue 19)
# The stop rule asks for a margin below the target: 3 standard errors under 0.6 % of the
# largest share (the largest of 1000 errors is about 3 SE: a stop at 3 SE < 1 % left it
# at 0.8-1.0 %, on the edge; with the time left, the sampler buys the margin).
MC_STOP_OF_MAX = 0.006
MC_SECONDS = 10.0  # within 10 s on 2 cores
MC_BUDGET = 9.5  # the sampling stops here, so that setting up and reporting fit in 10 s
WORKERS = 2

Game = Callable[[frozenset[str]], float]


# --- games with Shapley values in closed form -----------------------------------------------


def cubic_game(n: int, seed: int = 0) -> tuple[list[str], Game, np.ndarray]:
    rng = np.random.default_rng(seed)
    players = [f"agent-{i:04d}" for i in range(n)]
    a_arr, s_arr = rng.uniform(1, 2, n), rng.uniform(0, 1, n)
    sigma, q = float(s_arr.sum()), float((s_arr**2).sum())
    beta = float(a_arr.sum()) / sigma**3
    a = dict(zip(players, a_arr.tolist(), strict=True))
    s = dict(zip(players, s_arr.tolist(), strict=True))

    def value(c: frozenset[str]) -> float:
        return float(sum(map(a.__getitem__, c)) + beta * sum(map(s.__getitem__, c)) ** 3)

    x = s_arr
    pairs = ((sigma - x) ** 2 - (q - x * x)) / 2  # sum of s_j s_k over j < k, neither i
    closed = a_arr + beta * (
        x**3 + 1.5 * x * x * (sigma - x) + 1.5 * x * (q - x * x) + 2 * x * pairs
    )
    return players, value, closed


class CubicMarginals:
    """The cubic game for `shapley_stratified`: v(S) = a.S + beta (s.S)^3, vectorised."""

    def __init__(self, players: list[str], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        n = len(players)
        self.players = players
        self.a, self.s = rng.uniform(1, 2, n), rng.uniform(0, 1, n)  # as cubic_game draws
        self.beta = float(self.a.sum()) / float(self.s.sum()) ** 3

    def values(self, members: np.ndarray) -> np.ndarray:
        return np.asarray(members @ self.a + self.beta * (members @ self.s) ** 3)

    def marginals(self, members: np.ndarray) -> np.ndarray:
        rest = (members @ self.s)[:, None] - members * self.s  # s-weight of S without j
        return np.asarray(self.a + self.beta * ((rest + self.s) ** 3 - rest**3))


def airport_game(n: int, seed: int = 0) -> tuple[list[str], Game, np.ndarray]:
    """v(S) = the largest c_i in S (a runway long enough for the largest plane): the player
    with rank j by c gets sum over k <= j of (c_k - c_k-1) / (n - k + 1)."""
    rng = np.random.default_rng(seed)
    players = [f"plane-{i:04d}" for i in range(n)]
    c_arr = rng.uniform(0, 1, n)
    c = dict(zip(players, c_arr.tolist(), strict=True))

    def value(s: frozenset[str]) -> float:
        return max(map(c.__getitem__, s), default=0.0)

    rank = np.argsort(c_arr)
    steps = np.diff(np.concatenate([[0.0], c_arr[rank]])) / (n - np.arange(n))
    closed = np.empty(n)
    closed[rank] = np.cumsum(steps)
    return players, value, closed


def voting_game(
    big: int, big_weight: int, small: int, small_weight: int
) -> tuple[list[str], Game, np.ndarray]:
    """A weighted voting game: `big` players of weight `big_weight` and `small` of weight
    `small_weight`; a coalition wins (value 1) with more than half of all the weight.

    Exact Shapley values, for any size, from the two-class structure: a player's value is
    the probability that it is pivotal, its position k uniform in 0..n-1 and the k players
    before it a uniformly drawn k-subset of the others (j of them big: hypergeometric).
    """
    n = big + small
    players = [f"big-{i:04d}" for i in range(big)] + [f"small-{i:04d}" for i in range(small)]
    total = big * big_weight + small * small_weight
    quota = total // 2 + 1
    weight = dict(zip(players, [big_weight] * big + [small_weight] * small, strict=True))

    def value(c: frozenset[str]) -> float:
        return 1.0 if sum(map(weight.__getitem__, c)) >= quota else 0.0

    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])

    def log_choose(m: int | np.ndarray, k: np.ndarray) -> np.ndarray:
        return log_fact[m] - log_fact[k] - log_fact[np.asarray(m) - k]

    def pivotal(own: int, others_big: int, others_small: int) -> float:
        k = np.arange(n)[:, None]
        j = np.arange(others_big + 1)[None, :]
        possible = (k - j >= 0) & (k - j <= others_small)
        kk, jj = np.where(possible, k, 0), np.where(possible, j, 0)
        before = jj * big_weight + (kk - jj) * small_weight
        pivot = possible & (before < quota) & (before + own >= quota)
        log_p = log_choose(others_big, jj) + log_choose(others_small, kk - jj)
        log_p = log_p - log_choose(n - 1, kk)
        return float(np.where(pivot, np.exp(log_p), 0.0).sum() / n)

    closed = np.array(
        [pivotal(big_weight, big - 1, small)] * big
        + [pivotal(small_weight, big, small - 1)] * small
    )
    assert abs(closed.sum() - 1.0) < 1e-9, "the exact values must sum to v(N) = 1"
    return players, value, closed


# --- (A) exact, and where its time goes -----------------------------------------------------


def split_timing(players: list[str], value: Game) -> tuple[float, float]:
    """Seconds to make the 2^n coalition values (frozensets + calls of `value`), and seconds
    of the Shapley arithmetic over them: `shapley`'s own two stages (private helpers), run
    one after the other instead of interleaved."""
    started = time.perf_counter()
    chunks = list(credit._chunks(players, value))
    made = time.perf_counter()
    credit._fold(len(players), chunks)
    return made - started, time.perf_counter() - made


def timed(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def exact_rows(sizes: tuple[int, ...], rounds: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        players, value, closed = cubic_game(n)
        got = np.array(list(shapley(players, value).values()))
        assert np.allclose(got, closed, rtol=1e-9), f"exact Shapley disagrees at n={n}"
        seconds = timed(partial(shapley, players, value), rounds)
        values, arithmetic = (
            statistics.median(t)
            for t in zip(*(split_timing(players, value) for _ in range(rounds)), strict=True)
        )
        rows.append(
            {
                "n": n,
                "seconds": seconds,
                "values_seconds": values,
                "arithmetic_seconds": arithmetic,
                "value_calls": 2**n,
            }
        )
    return rows


# --- (B) the textbook baseline --------------------------------------------------------------


def naive_shapley(players: list[str], value: Game) -> dict[str, float]:
    n = len(players)
    out = {}
    for p in players:
        others = [q for q in players if q != p]
        total = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for members in itertools.combinations(others, size):
                total += weight * (value(frozenset((*members, p))) - value(frozenset(members)))
        out[p] = total
    return out


def baseline_rows(sizes: tuple[int, ...], rounds: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        players, value, closed = cubic_game(n)
        assert np.allclose(list(naive_shapley(players, value).values()), closed, rtol=1e-9)
        naive = timed(partial(naive_shapley, players, value), rounds)
        ours = timed(partial(shapley, players, value), rounds)
        rows.append(
            {"n": n, "naive_seconds": naive, "lamas_seconds": ours, "speedup": naive / ours}
        )
    return rows


# --- (C) Monte Carlo against closed forms ----------------------------------------------------


def monte_carlo_row(
    name: str,
    game: Callable[[int], tuple[list[str], Game, np.ndarray]],
    n: int,
    samples: int,
    *,
    antithetic: bool = True,
) -> dict[str, Any]:
    players, value, closed = game(n)
    started = time.perf_counter()
    est = shapley_estimate(players, value, samples=samples, seed=1, antithetic=antithetic)
    seconds = time.perf_counter() - started
    got = np.array([est.values[p] for p in players])
    errors = np.array([est.standard_errors[p] for p in players])
    rel = np.abs(got - closed) / np.abs(closed)
    total = float(closed.sum())
    return {
        "game": name,
        "n": n,
        "antithetic": antithetic,
        "seconds": seconds,
        "samples": est.samples,
        "max_rel_error": float(rel.max()),
        "mean_rel_error": float(rel.mean()),
        "total_rel_error": abs(math.fsum(got) - total) / abs(total),
        "bound_3se": est.bound(3.0),
        "bound_3se_over_mean_share": est.bound(3.0) / (total / n),
        "mean_standard_error": float(errors.mean()),
        "within_3se": float(np.mean(np.abs(got - closed) <= 3 * errors)),
    }


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the sampling workers)."""
    import resource

    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def target_row(
    name: str,
    game: MarginalGame,
    value: Game,
    closed: np.ndarray,
    method: str,
    coalitions: int | None = None,
    seed: int = 1,
) -> dict[str, Any]:
    """One estimator on one n = 1000 game at the issue's target: stop when 3 standard errors
    are under 0.6 % of the largest share, or at the time budget; then each player's error
    against the exact values, relative to the largest value. With `coalitions`, the
    stratified sampler gets that many coalitions instead of a time budget (the "CPU
    budget" rows: what two idle cores would value in the time budget)."""
    load_before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), _cpu()
    if method == "stratified":
        est = shapley_stratified(
            game,
            relative_tolerance=MC_STOP_OF_MAX / 3,
            time_limit=None if coalitions else MC_BUDGET,
            max_coalitions=coalitions,
            seed=seed,
            workers=WORKERS,
        )
    else:  # the baseline: whole orders, antithetic pairs, one process
        est = shapley_estimate(
            game.players,
            value,
            samples=10**9,
            seed=1,
            relative_tolerance=MC_STOP_OF_MAX / 3,
            time_limit=MC_BUDGET,
        )
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    players = list(game.players)
    got = np.array([est.values[p] for p in players])
    errors = np.array([est.standard_errors[p] for p in players])
    largest = float(np.abs(closed).max())
    worst = float(np.abs(got - closed).max()) / largest
    return {
        "game": name,
        "method": method,
        "seed": seed,
        "n": len(players),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "samples": est.samples,
        "stopped": est.stopped,
        "max_error_of_max": worst,
        "mean_error_of_max": float(np.abs(got - closed).mean()) / largest,
        "stated_3se_of_max": 3 * float(errors.max()) / largest,
        "within_3se": float(np.mean(np.abs(got - closed) <= 3 * errors)),
        "sum_rel_error": abs(math.fsum(got.tolist()) - float(closed.sum()))
        / abs(float(closed.sum())),
        "met": worst < MC_TARGET_OF_MAX and seconds < MC_SECONDS,
    }


def target_games() -> list[tuple[str, MarginalGame, Game, np.ndarray]]:
    """Each game twice: vectorised (for `shapley_stratified`) and as a plain function."""
    games: list[tuple[str, MarginalGame, Game, np.ndarray]] = []
    players, value, closed = cubic_game(1000)
    games.append(("cubic (smooth)", CubicMarginals(players), value, closed))
    for big, big_weight, small, small_weight in ((10, 100, 990, 1), (500, 3, 500, 2)):
        players, value, closed = voting_game(big, big_weight, small, small_weight)
        weights = [big_weight] * big + [small_weight] * small
        quota = sum(weights) // 2 + 1
        games.append(
            (
                f"voting {big}x{big_weight} + {small}x{small_weight}",
                WeightedVotingGame(dict(zip(players, weights, strict=True)), quota),
                value,
                closed,
            )
        )
    return games


# --- (D) ledger: figures to be added by the ledger's author ---------------------------------


def ledger_rows() -> list[dict[str, Any]]:
    """Append/verify figures of `lamas.economy.ledger`: [] until someone measures them here.

    Placeholder, clearly marked: when the ledger is importable, time appending N entries and
    verifying the hash chain, and return one dict per measure (`{"measure": ..., ...}`); the
    table and the JSON ("ledger") pick them up unchanged.
    """
    try:
        import lamas.economy.ledger  # noqa: F401
    except ImportError:
        return []
    return []  # TODO(ledger): append / verify figures go here


# --- report --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one round each (a smoke run)")
    parser.add_argument(
        "--cpu-budget",
        action="store_true",
        help="for each game the time budget cut short, run the stratified sampler again on "
        "as many coalitions as two idle cores would value in it (for a loaded machine)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[1],
        help="seeds of the stratified sampler's runs in (E), each a row (the baseline: seed 1)",
    )
    args = parser.parse_args()
    rounds = 1 if args.quick else 3

    exact = exact_rows((10, 15, 20), rounds)
    baseline = baseline_rows((10, 12), rounds)
    monte_carlo = [
        monte_carlo_row("cubic", cubic_game, 100, 2000),
        monte_carlo_row("cubic", cubic_game, 100, 2000, antithetic=False),
        monte_carlo_row("airport", airport_game, 100, 2000),
        monte_carlo_row("cubic", cubic_game, 1000, 300),
    ]
    voting = []
    for name, game, value, closed in target_games():
        for seed in args.seeds:
            voting.append(target_row(name, game, value, closed, "stratified", seed=seed))
        timed = voting[-1]
        voting.append(target_row(name, game, value, closed, "permutations"))
        if args.cpu_budget and timed["stopped"] == "time":
            # As many coalitions as the CPU seconds of two idle cores over the time budget
            # buy, at the pace this run measured: a CPU figure, not a wall-clock one.
            pace = timed["samples"] / timed["cpu_seconds"]
            budget = int(pace * WORKERS * MC_BUDGET)
            row = target_row(name, game, value, closed, "stratified", budget)
            row["method"] = f"stratified, {WORKERS * MC_BUDGET:.0f} CPU-s"
            row["met"] = row["max_error_of_max"] < MC_TARGET_OF_MAX  # its seconds are CPU's
            voting.append(row)
    ours = [r for r in voting if r["method"] == "stratified"]
    n20 = next(r for r in exact if r["n"] == 20)
    n1000 = next(r for r in monte_carlo if r["n"] == 1000)
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "exact_n20_seconds": n20["seconds"],
        "mc_n1000_seconds": n1000["seconds"],
        "mc_n1000_total_rel_error": n1000["total_rel_error"],
        "mc_n1000_max_rel_error": n1000["max_rel_error"],
        "mc_n1000_mean_rel_error": n1000["mean_rel_error"],
        "exact": exact,
        "baseline": baseline,
        "monte_carlo": monte_carlo,
        "voting": voting,
        "voting_n1000_max_error_of_max": max(r["max_error_of_max"] for r in ours),
        "voting_n1000_max_seconds": max(r["seconds"] for r in ours),
        "ledger": ledger_rows(),
    }
    checks = {key: result[key] < limit for key, limit in TARGETS.items()}
    result["targets"] = TARGETS
    result["met"] = checks

    from rich.console import Console
    from rich.table import Table

    # a log or a pipe gets 80 columns by default: too few for the Monte Carlo table
    console = Console() if sys.stdout.isatty() else Console(width=120)
    table = Table(title="exact Shapley (median seconds)")
    for column in ("n", "seconds", "building values", "arithmetic", "naive baseline", "speed-up"):
        table.add_column(column, justify="right")
    timings = {r["n"]: r for r in exact}
    naive = {r["n"]: r for r in baseline}
    for n in sorted(timings.keys() | naive.keys()):
        ours, base = timings.get(n), naive.get(n)
        table.add_row(
            str(n),
            f"{ours['seconds'] if ours else base['lamas_seconds']:.3f}",  # type: ignore[index]
            f"{ours['values_seconds']:.3f}" if ours else "",
            f"{ours['arithmetic_seconds']:.3f}" if ours else "",
            f"{base['naive_seconds']:.3f}" if base else "",
            f"{base['speedup']:.0f}x" if base else "",
        )
    console.print(table)

    table = Table(title="Monte Carlo Shapley against closed forms (seed 1)")
    # errors are per player, relative to the closed form; "3SE/share" is the stated bound
    # (3 standard errors of the least certain player) over the mean share
    columns = "game n pairs perms s max-err mean-err total-err 3SE/share in-3SE"
    for column in columns.split():
        table.add_column(column, justify="left" if column == "game" else "right")
    for row in monte_carlo:
        table.add_row(
            row["game"],
            str(row["n"]),
            "yes" if row["antithetic"] else "no",
            str(row["samples"]),
            f"{row['seconds']:.2f}",
            f"{row['max_rel_error']:.2%}",
            f"{row['mean_rel_error']:.2%}",
            f"{row['total_rel_error']:.0e}",
            f"{row['bound_3se_over_mean_share']:.2%}",
            f"{row['within_3se']:.0%}",
        )
    console.print(table)

    table = Table(title="Shapley at n = 1000 against exact values: the 1 %-of-max target")
    # errors relative to the largest value; stop: 3 SE < 0.6 % of the largest share, or 9.5 s
    columns = "game method samples s cpu-s load stopped max-err mean-err 3SE in-3SE met"
    for column in columns.split():
        table.add_column(
            column, justify="left" if column in ("game", "method", "stopped") else "right"
        )
    for row in voting:
        table.add_row(
            row["game"],
            f"{row['method']} (seed {row['seed']})",
            str(row["samples"]),
            f"{row['seconds']:.1f}",
            f"{row['cpu_seconds']:.1f}",
            f"{row['load_before']:.1f}",
            row["stopped"],
            f"{row['max_error_of_max']:.2%}",
            f"{row['mean_error_of_max']:.2%}",
            f"{row['stated_3se_of_max']:.2%}",
            f"{row['within_3se']:.0%}",
            "yes" if row["met"] else "NO",
        )
    console.print(table)

    rows = ledger_rows()
    if rows:
        table = Table(title="ledger")
        for column in rows[0]:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)

    for key in checks:
        print(f"{key}: {result[key]:.3g} (target < {TARGETS[key]})")
    return finish("credit", result, checks)


if __name__ == "__main__":
    raise SystemExit(main())
