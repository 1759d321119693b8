"""Credit allocation: who earned what share of a task's business value.

A finished task has a value (a booking's promotion fee, a sale's margin). The agents that
took part are the *players*; a characteristic function `value` says what any coalition of
them would have produced on its own (`frozenset` of players -> number). The Shapley value
gives each player its marginal contribution `v(S + i) - v(S)`, averaged over every order
in which the team could have assembled; it is the one split that is

- efficient:  the shares sum to v(N) - v(empty), the whole value created;
- symmetric:  interchangeable players get equal shares;
- null-safe:  a player that adds nothing to any coalition gets 0;
- additive:   the shares of two games added are the shares of their sum.

`shapley(method="exact")` evaluates each of the 2^n coalitions once (n <= 25; about 1-2 s
at n = 20 for a cheap value function, most of it building frozensets and calling `value`).
`method="monte_carlo"` averages marginals over random orders, in antithetic pairs (an
order and its reverse); `shapley_estimate` also gives each share's standard error and
stops early at a `tolerance`. Each sampled order's marginals telescope to
v(N) - v(empty), so efficiency holds exactly (up to rounding) for every estimate: the
sampling error is only in how the total is divided. For large games whose marginals can be
valued in batches (a weighted vote: `credit_strata.WeightedVotingGame`),
`credit_strata.shapley_stratified` samples by position instead, far more efficiently
(two 1000-player votes in 10 s on a loaded machine: within 0.5 % and 3 % of the largest
share, where whole orders are off by 34 % and 1,000 %; docs/numbers.md).

For comparison, the usual simpler rules: `equal_split`, `proportional` to resources used,
`leave_one_out`, `last_touch`; `compare` puts them side by side. `task_value_function`
turns a task record (steps, who did them, which were required) into a characteristic
function, and `propagate` passes credit down to sub-teams an agent subcontracted to.

Everything here is pure. numpy is imported inside the functions that need it, so that
`import lamas` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from numbers import Real
from operator import or_
from typing import TYPE_CHECKING, Any, Literal

from lamas.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]

ValueFunction = Callable[[frozenset[str]], float]
"""A characteristic function: what a coalition of players produces on its own."""

Method = Literal["exact", "monte_carlo"]

Stop = Literal["tolerance", "samples", "time"]
"""What ended Monte Carlo sampling: every error under the tolerance, or a budget spent."""

TaskStep = tuple[str, str | Collection[str], bool, float]
"""(step_id, agent or agents that could each do it, required, share of the outcome value)."""

EXACT_LIMIT = 25
"""Most players `shapley(method="exact")` accepts: 2^25 coalition values is ~30 M calls."""

DEFAULT_SAMPLES = 1000
"""Permutations Monte Carlo draws when not told (fewer if `tolerance` is met first)."""

_CHUNK_BITS = 14  # exact: coalitions are valued 2^14 at a time: a few MB, whatever n is
_MIN_PAIRS = 8  # Monte Carlo: a standard error from fewer pairs (orders) is too noisy to stop on


class CreditError(InputError):
    """Players, values, resources or a task record cannot be turned into credit."""


@dataclass(frozen=True, slots=True)
class ShapleyEstimate:
    """A Monte Carlo Shapley value: each player's share and that share's standard error.

    `samples` counts the permutations drawn (antithetic pairs count as two). The error of
    a player's share is roughly normal with sd `standard_errors[p]`, so each share is
    within `bound(3.0)` (3 of the largest standard errors) of its true value but for
    ~0.3 % of players. The standard errors are estimated too: in a game where a player's
    marginal is large but rare (it matters only when it comes first), they are too small
    until enough orders have seen the rare case. `converged` says whether every standard
    error fell under `tolerance` (None when no tolerance was asked for).
    """

    values: dict[str, float] = field(hash=False)
    standard_errors: dict[str, float] = field(hash=False)
    samples: int
    total: float
    tolerance: float | None = None
    converged: bool | None = None
    antithetic: bool = True
    stopped: Stop = "samples"
    """What ended the sampling: every error under the tolerance, or a budget spent."""
    seconds: float = field(default=0.0, compare=False)
    """Wall time the sampling took."""

    @property
    def max_standard_error(self) -> float:
        return max(self.standard_errors.values(), default=0.0)

    def bound(self, z: float = 3.0) -> float:
        """Half-width of a per-player interval at `z` standard errors: the stated error."""
        return z * self.max_standard_error


def shapley(
    players: Iterable[str],
    value: ValueFunction,
    *,
    method: Method = "exact",
    samples: int | None = None,
    seed: int | None = None,
    tolerance: float | None = None,
) -> dict[str, float]:
    """Each player's Shapley value in the game `value`, in the order of `players`.

    Exact by default (2^n calls of `value`, n <= 25); `method="monte_carlo"` samples
    `samples` permutations (default 1000) from `seed`, stopping early once every standard
    error is under `tolerance`. See `shapley_estimate` for the errors themselves.
    """
    if method == "monte_carlo":
        return shapley_estimate(
            players, value, samples=samples, seed=seed, tolerance=tolerance
        ).values
    if method != "exact":
        raise ValueError(f"unknown Shapley method {method!r}; methods: exact, monte_carlo")
    if samples is not None or seed is not None or tolerance is not None:
        raise ValueError("samples, seed and tolerance apply only to method='monte_carlo'")
    order = _players(players)
    if len(order) > EXACT_LIMIT:
        raise CreditError(
            f"exact Shapley over {len(order)} players needs 2^{len(order)} coalition values; "
            f"the limit is {EXACT_LIMIT}: use method='monte_carlo' (with samples= or tolerance=)"
        )
    if not order:
        return {}
    return dict(zip(order, _exact(order, value), strict=True))


def shapley_estimate(
    players: Iterable[str],
    value: ValueFunction,
    *,
    samples: int | None = None,
    seed: int | None = None,
    tolerance: float | None = None,
    relative_tolerance: float | None = None,
    time_limit: float | None = None,
    antithetic: bool = True,
) -> ShapleyEstimate:
    """Monte Carlo Shapley values by permutation sampling, with standard errors.

    Draws up to `samples` permutations (default 1000; rounded up to even when
    `antithetic`) from `numpy.random.default_rng(seed)`; each costs n - 1 calls of
    `value` on its growing prefixes. With `antithetic`, each order is followed by its
    reverse and the pair's mean is one sample: the pair sees each player both early and
    late, which cancels most of the variance (all of it for games of degree <= 2, such as
    additive games with pairwise synergies). With `tolerance` (absolute, in units of
    value), sampling stops once every player's standard error is below it, checked from
    the 8th sample on; the estimate says whether it got there. `relative_tolerance` is the
    same rule relative to the largest share (|value| of the player with most): every
    standard error under `relative_tolerance` times it. `time_limit` (seconds) is a second
    budget beside `samples`: sampling stops when either is spent, and then `converged` is
    False (when a tolerance was asked) and `stopped` says which budget ran out.
    """
    import time

    import numpy as np

    budget = DEFAULT_SAMPLES if samples is None else samples
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"samples must be a positive number of permutations, got {samples!r}")
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive standard error, got {tolerance!r}")
    if relative_tolerance is not None and not (
        math.isfinite(relative_tolerance) and 0 < relative_tolerance < 1
    ):
        raise ValueError(
            f"relative_tolerance must be a fraction in (0, 1), got {relative_tolerance!r}"
        )
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    asked = tolerance is not None or relative_tolerance is not None
    started = time.perf_counter()
    order = _players(players)
    n = len(order)
    if n == 0:
        return ShapleyEstimate(
            {}, {}, 0, 0.0, tolerance, True if asked else None, stopped="tolerance"
        )
    empty: frozenset[str] = frozenset()
    everyone = frozenset(order)
    ends = _evaluate(value, [empty, everyone], order)
    total = float(ends[1] - ends[0])
    singles = [frozenset((p,)) for p in order]
    rng = np.random.default_rng(seed)

    def marginals(perm: list[int]) -> Floats:
        # each prefix is the last one plus a player (n - 1 unions), valued as it is made
        prefixes = accumulate((singles[i] for i in perm[:-1]), or_)
        walk = np.empty(n + 1)
        walk[0], walk[n] = ends
        walk[1:n] = _checked(
            list(map(value, prefixes)), lambda k: frozenset(order[i] for i in perm[: k + 1]), order
        )
        out = np.empty(n)
        out[perm] = np.diff(walk)  # telescopes: sums to v(N) - v(empty) for every order
        return out

    per_unit = 2 if antithetic else 1
    units = -(-budget // per_unit)
    mean, m2 = np.zeros(n), np.zeros(n)
    drawn, converged = 0, False if asked else None
    stopped: Stop = "samples"
    for drawn in range(1, units + 1):
        perm = rng.permutation(n).tolist()
        x = marginals(perm)
        if antithetic:
            x = (x + marginals(perm[::-1])) / 2
        delta = x - mean  # Welford: stable running mean and sum of squared deviations
        mean += delta / drawn
        m2 += delta * (x - mean)
        if asked and drawn >= _MIN_PAIRS:
            # every standard error sqrt(m2 / (drawn - 1) / drawn) under the tolerance,
            # compared squared (no sqrt per player):
            limit = min(
                math.inf if tolerance is None else tolerance,
                math.inf if relative_tolerance is None else relative_tolerance * np.abs(mean).max(),
            )
            if m2.max() < limit * limit * (drawn - 1) * drawn:
                converged, stopped = True, "tolerance"
                break
        if time_limit is not None and time.perf_counter() - started > time_limit:
            stopped = "time"
            break
    if drawn > 1:
        errors = np.sqrt(m2 / (drawn - 1) / drawn)
    else:
        errors = np.full(n, 0.0 if n == 1 else math.inf)  # one player: always exact
    return ShapleyEstimate(
        values=dict(zip(order, mean.tolist(), strict=True)),
        standard_errors=dict(zip(order, errors.tolist(), strict=True)),
        samples=drawn * per_unit,
        total=total,
        tolerance=tolerance,
        converged=converged,
        antithetic=antithetic,
        stopped=stopped,
        seconds=time.perf_counter() - started,
    )


# --- simpler rules, for comparison ---------------------------------------------------


def equal_split(players: Iterable[str], total: float) -> dict[str, float]:
    """`total` divided equally: what a platform does when it measures nothing."""
    order = _players(players)
    total = _finite(total, "total")
    return {p: total / len(order) for p in order}


def proportional(
    players: Iterable[str], resources: Mapping[str, float], total: float
) -> dict[str, float]:
    """`total` in proportion to the resources each player used (tokens, seconds, calls).

    A player missing from `resources` used nothing; if nobody used anything, the split is
    equal. Rewards effort, not contribution: a verbose agent earns more for the same work.
    """
    order = _players(players)
    total = _finite(total, "total")
    stray = sorted(set(resources) - set(order))
    if stray:
        raise CreditError(f"resources name agents that are not players: {', '.join(stray)}")
    used = {p: _finite(resources.get(p, 0.0), f"resources of {p!r}") for p in order}
    if any(u < 0 for u in used.values()):
        raise CreditError(f"resources cannot be negative: {used}")
    spent = math.fsum(used.values())
    if spent == 0:
        return equal_split(order, total)
    return {p: total * u / spent for p, u in used.items()}


def leave_one_out(players: Iterable[str], value: ValueFunction) -> dict[str, float]:
    """Each player's v(N) - v(N without it), scaled to sum to v(N) - v(empty) (= v(N) in
    the usual case v(empty) = 0), so that it divides the same total as the other rules.

    When the raw differences sum to zero, scaling is impossible and they are returned
    unscaled. That is what happens when every player is replaceable (two vendors who can
    each do the only step): both get 0, the classic failure of this rule that Shapley
    does not share. Complements are over-counted instead, then scaled back.
    """
    order = _players(players)
    if not order:
        return {}
    everyone = frozenset(order)
    coalitions = [everyone, frozenset(), *(everyone - {p} for p in order)]
    values = _evaluate(value, coalitions, order).tolist()
    raw = [values[0] - without for without in values[2:]]
    spent, total = math.fsum(raw), values[0] - values[1]
    scale = max(abs(total), *(abs(r) for r in raw))
    if abs(spent) <= 1e-12 * scale:
        return dict(zip(order, raw, strict=True))
    return {p: total * r / spent for p, r in zip(order, raw, strict=True)}


def last_touch(players_in_order: Iterable[str], total: float) -> dict[str, float]:
    """All of `total` to the last agent that touched the outcome, 0 to the rest.

    `players_in_order` is the touch sequence (an agent may appear more than once); the
    result lists each agent once, in order of first touch. The ad industry's last-click.
    """
    touches = list(players_in_order)
    total = _finite(total, "total")
    shares = dict.fromkeys(touches, 0.0)
    if touches:
        shares[touches[-1]] = total
    return shares


def compare(
    players: Iterable[str],
    value: ValueFunction,
    *,
    resources: Mapping[str, float] | None = None,
    order: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Every rule side by side: method name -> player -> share of v(N) - v(empty).

    Shapley is exact (so n <= 25). `proportional` needs `resources`, `last_touch` the
    touch `order`; each is left out when its input is not given.
    """
    who = _players(players)
    if not who:
        return {}
    ends = _evaluate(value, [frozenset(), frozenset(who)], who)
    total = float(ends[1] - ends[0])
    table = {
        "shapley": shapley(who, value),
        "leave_one_out": leave_one_out(who, value),
        "equal_split": equal_split(who, total),
    }
    if resources is not None:
        table["proportional"] = proportional(who, resources, total)
    if order is not None:
        stray = sorted(set(order) - set(who))
        if stray:
            raise CreditError(f"the touch order names agents that are not players: {stray}")
        touched = last_touch(order, total)
        table["last_touch"] = {p: touched.get(p, 0.0) for p in who}
    return table


# --- a characteristic function from a task record -----------------------------------


def task_value_function(steps: Iterable[TaskStep], outcome_value: float) -> ValueFunction:
    """The value a coalition of agents produces on a task, from the task's steps.

    Each step is `(step_id, agents, required, share)`, `agents` one agent id or a set of
    agents any one of whom does the step. With base = outcome_value * (1 - sum of the
    optional steps' shares):

        v(S) = 0                                   if some required step has no agent in S
        v(S) = base + outcome_value * sum(share of each optional step with an agent in S)

    Required steps carry no share (give 0): the base is theirs jointly, since nothing
    happens without any one of them. Shares are in [0, 1] and sum to at most 1.

    What Shapley then pays: the required agents split the base equally (they are
    complements: each is indispensable). An optional step's share is *not* simply its
    agent's pay: it is only earned when the task completes, so it is split with the
    required agents (an optional agent next to k required ones gets share / (k + 1)).
    A step with several agents treats them as substitutes: if only one of them is among
    the players (the usual case: players are the agents that took part), it is paid as if
    alone; if two competing vendors are both players, neither is indispensable, so they
    split the step's credit between them, and the agents that remain indispensable gain
    what the vendors lose (orchestrator + one vendor: 1/2 each; orchestrator + two:
    2/3 and 1/6 + 1/6). So list as a step's agents only those that really worked on it.
    """
    outcome = _finite(outcome_value, "outcome_value")
    required: list[frozenset[str]] = []
    optional: list[tuple[frozenset[str], float]] = []
    seen: set[str] = set()
    for step in steps:
        step_id, agents, needed, share = step
        if step_id in seen:
            raise CreditError(f"step {step_id!r} appears twice in the task record")
        seen.add(step_id)
        doers = frozenset((agents,) if isinstance(agents, str) else agents)
        if not doers:
            raise CreditError(f"step {step_id!r} names no agent")
        share = _finite(share, f"share of step {step_id!r}")
        if not 0.0 <= share <= 1.0:
            raise CreditError(f"share of step {step_id!r} must be in [0, 1], got {share}")
        if needed and share:
            raise CreditError(
                f"required step {step_id!r} has share {share}; a required step's worth is the "
                "base (nothing happens without it): give it share 0, shares are for optional steps"
            )
        if needed:
            required.append(doers)
        else:
            optional.append((doers, share * outcome))
    extra = math.fsum(share for _, share in optional)
    if outcome and extra / outcome > 1.0 + 1e-12:
        raise CreditError(f"the optional steps' shares sum to {extra / outcome:.6g}, above 1")
    base = outcome - extra

    def value(coalition: frozenset[str]) -> float:
        for doers in required:
            if doers.isdisjoint(coalition):
                return 0.0
        return base + math.fsum(s for doers, s in optional if not doers.isdisjoint(coalition))

    return value


# --- multi-level propagation ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubTeam:
    """The agents an agent subcontracted to, how they add value, and what it passes down.

    The subcontracting agent keeps 1 - `fraction` of its credit and the sub-agents split
    `fraction` of it by their Shapley values in `value` (exact; normalised by
    v(agents) - v(empty), which must not be 0). The agent may list itself among `agents`
    to be paid for its own part of the sub-task too.
    """

    agents: tuple[str, ...]
    value: ValueFunction = field(compare=False)
    fraction: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "agents", _players(self.agents))  # frozen: set once, here
        if not self.agents:
            raise CreditError("a sub-team needs at least one agent")
        fraction = _finite(self.fraction, "fraction passed down")
        if not 0.0 <= fraction <= 1.0:
            raise CreditError(f"the fraction passed down must be in [0, 1], got {fraction}")


def propagate(top_shares: Mapping[str, float], subteams: Mapping[str, SubTeam]) -> dict[str, float]:
    """Credit after each agent passes its sub-team's fraction down, level after level.

    `subteams[a]` is the team `a` subcontracted to; a sub-agent with an entry of its own
    passes part of what it receives further down. An agent passes down a fraction of all
    the credit it ends up with, from every level (it is processed after everyone who
    pays it), so subcontracting must not loop. The total is preserved.
    """
    credit = {a: _finite(c, f"credit of {a!r}") for a, c in top_shares.items()}
    for agent in _topological(subteams, list(credit)):
        team = subteams.get(agent)
        amount = credit.get(agent, 0.0)
        if team is None or not amount or not team.fraction:
            continue
        split = shapley(team.agents, team.value)
        made = math.fsum(split.values())
        if abs(made) <= 1e-12 * max(1.0, *(abs(s) for s in split.values())):
            raise CreditError(
                f"the sub-team of {agent!r} creates no value (v(team) - v(empty) = 0), so its "
                "Shapley shares cannot be normalised: give it fraction 0 or a value function"
            )
        passed = amount * team.fraction
        credit[agent] = amount - passed
        for sub, share in split.items():
            credit[sub] = credit.get(sub, 0.0) + passed * share / made
    return credit


# --- internals ---------------------------------------------------------------------------


def _players(players: Iterable[str]) -> tuple[str, ...]:
    order = tuple(players)
    if len(set(order)) != len(order):
        twice = sorted({p for p in order if order.count(p) > 1})
        raise CreditError(f"each player appears once; repeated: {', '.join(twice)}")
    return order


def _finite(number: Any, what: str) -> float:
    if isinstance(number, bool) or not isinstance(number, Real):
        raise CreditError(f"{what} must be a number, got {number!r}")
    if not math.isfinite(number):
        raise CreditError(f"{what} must be finite, got {number}")
    return float(number)


def _named(coalition: frozenset[str], order: Sequence[str]) -> str:
    members = [p for p in order if p in coalition] + sorted(coalition.difference(order))
    shown = ", ".join(members[:8]) + (f", ... ({len(members)} players)" if len(members) > 8 else "")
    return "{" + shown + "}"


def _evaluate(
    value: ValueFunction, coalitions: Sequence[frozenset[str]], order: Sequence[str]
) -> Floats:
    """`value` of each coalition as a float array (see `_checked`)."""
    return _checked(list(map(value, coalitions)), coalitions.__getitem__, order)


def _checked(
    got: list[Any], coalition: Callable[[int], frozenset[str]], order: Sequence[str]
) -> Floats:
    """The values `got` as a float array, or an error naming `coalition(k)`, the first whose
    value is not a finite real number. Checked in bulk, so that the common case (every value
    a Python or numpy number) costs two numpy calls. Callers stream coalitions into `value`
    and rebuild only the bad one: keeping thousands of large frozensets alive costs more
    than making them."""
    import numpy as np

    try:
        out = np.array(got)
    except ValueError:  # values of different shapes: some are not numbers
        out = np.empty((0, 0))  # not 1-d: checked one by one below
    if out.ndim != 1 or out.dtype.kind not in "biuf":  # None, str, Decimal, a huge int, ...
        out = np.array([_real(v) for v in got], dtype=np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise CreditError(
            f"the value of coalition {_named(coalition(bad), order)} is {got[bad]!r}; a "
            "characteristic function must return a finite real number for every coalition"
        )
    return out.astype(np.float64, copy=False)


def _real(v: object) -> float:
    """`v` as a float, or nan (which `_evaluate` reports) if it is no real number."""
    if not isinstance(v, Real):
        return math.nan
    try:
        return float(v)
    except OverflowError:
        return math.nan


def _subsets(singles: Sequence[frozenset[str]]) -> list[frozenset[str]]:
    """All unions of `singles`, indexed by bitmask: subset m holds singles[b] iff bit b of
    m is set. Built from smaller masks, so each costs one union with a singleton."""
    out: list[frozenset[str]] = [frozenset()]
    for single in singles:
        out += [s | single for s in out]
    return out


def _exact(order: Sequence[str], value: ValueFunction) -> list[float]:
    """Shapley values from all 2^n coalition values, streamed in chunks of 2^14."""
    return _fold(len(order), _chunks(order, value))


def _chunks(order: Sequence[str], value: ValueFunction) -> Iterator[Floats]:
    """The values of all 2^n coalitions, 2^k at a time (k = min(n, 14)): chunk h holds
    the coalitions low[m] + high[h] for m < 2^k, so coalition h 2^k + m is the bitmask
    (bit i = order[i]). Each coalition is one union of two prebuilt halves."""
    k = min(len(order), _CHUNK_BITS)
    singles = [frozenset((p,)) for p in order]
    low, high = _subsets(singles[:k]), _subsets(singles[k:])
    for h, above in enumerate(high):
        chunk = iter(low) if h == 0 else (s | above for s in low)
        # the lambda names a bad coalition, and is only ever called within this iteration
        yield _checked(list(map(value, chunk)), lambda m: low[m] | above, order)  # noqa: B023


def _fold(n: int, chunks: Iterable[Floats]) -> list[float]:
    """The Shapley arithmetic over the chunks of `_chunks`, one chunk at a time.

    With w(s) = s! (n-1-s)! / n!, the value of i is

        phi_i = sum over S containing i of w(|S|-1) v(S)  -  sum over S without i of w(|S|) v(S),

    a linear form in v, so each chunk is folded in as it comes: for the chunk's low bits
    by one matrix-vector product with the chunk's bit matrix, for its high bits (constant
    across the chunk) by two sums. Values are taken relative to v(empty), so that a large
    constant in v does not cost precision.
    """
    import numpy as np

    k = min(n, _CHUNK_BITS)
    bits = ((np.arange(1 << k)[:, None] >> np.arange(k)) & 1).astype(np.float64)  # (2^k, k)
    size_low = bits.sum(axis=1).astype(np.intp)
    w = np.array([1.0 / (n * math.comb(n - 1, s)) for s in range(n)])
    w_out = np.append(w, 0.0)  # by |S|: weight of S as the coalition a player joins
    w_in = np.insert(w, 0, 0.0)  # by |S|: weight of S as the coalition a player completes
    high_bits = np.arange(n - k)
    phi_low, phi_high = np.zeros(k), np.zeros(n - k)
    zero = 0.0
    for h, chunk in enumerate(chunks):
        if h == 0:
            zero = float(chunk[0])
        values = chunk - zero
        size = size_low + h.bit_count()
        joined, completed = values * w_out[size], values * w_in[size]
        left = float(joined.sum())
        # sum over S with bit i of completed - sum over S without bit i of joined:
        phi_low += bits.T @ (completed + joined) - left
        phi_high += np.where((h >> high_bits) & 1, float(completed.sum()), -left)
    result: list[float] = np.concatenate([phi_low, phi_high]).tolist()
    return result


def _topological(subteams: Mapping[str, SubTeam], roots: list[str]) -> list[str]:
    """Every agent reachable from `roots`, each after all agents that subcontract to it."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    done: list[str] = []

    def visit(agent: str, path: list[str]) -> None:
        if state.get(agent) == 2:
            return
        if state.get(agent) == 1:
            loop = " -> ".join([*path[path.index(agent) :], agent])
            raise CreditError(f"subcontracting loops: {loop}; credit would flow forever")
        state[agent] = 1
        team = subteams.get(agent)
        for sub in team.agents if team else ():
            if sub != agent:  # an agent may take part in its own sub-team
                visit(sub, [*path, agent])
        state[agent] = 2
        done.append(agent)

    for root in roots:
        visit(root, [])
    return done[::-1]
