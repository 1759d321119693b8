"""Traffic monetization (paper §3.2): impressions, clicks and conversions, priced and attributed.

Agents show a user ads (an *impression*) and the user clicks some (a *click*). A user's
*journey* is the time-ordered touches of one session; it may end in a *conversion* (a
booking, a purchase) of some value. Advertisers pay per thousand impressions (CPM), per
click (CPC) and per conversion (CPA: a fixed fee, a rate of the conversion's value, or
both). `record_traffic` writes a batch of journeys to the ledger:

- a `task.opened` entry for the batch (task id = the batch id);
- per agent, one `outcome` for its impressions in the batch (basis cpm, units =
  impressions, value = cpm x impressions / 1000) and one for its clicks (basis cpc):
  money is rounded to the cent once per agent and batch, not per impression;
- per converted journey, one `outcome` (task `<batch>/<journey>`, basis cpa, units 1,
  value = its fee) whose components are the journey itself (its conversion value, the
  lift model, every touch), so any attribution can be recomputed from the ledger alone;
- then one `credit.allocated` per agent that touched that journey: its share of the fee
  by the rule chosen ("shapley" or "last_touch"), to the cent, adding up exactly to the
  fee (largest remainder), naming the outcome entry by its sequence number.

Every traffic outcome's note starts with "traffic: "; `read_traffic` finds them by it and
rebuilds the same `TrafficReport` that `record_traffic` returned.

Attribution. A conversion's value is a cooperative game over the agents that touched the
journey. Each touch lifts the chance of converting, a click (default 0.25) more than an
impression (default 0.05); the touches of a coalition S convert with probability
p(S) = 1 - prod(1 - lift(t) for every touch t by an agent in S), and
v(S) = value x p(S) / p(all touchers), so the coalition of all touchers earns exactly the
value and the Shapley shares add up to it (efficiency). The model ignores order: an
impression that made the user aware early counts as much as the same impression late.
Last touch (the ad industry's last click) gives everything to the last click, or to the
last impression when nobody was clicked: the awareness-builder gets nothing.

Rates per agent: CTR = clicks / impressions; CVR = conversions / clicks, where an agent's
conversions are the converted journeys in which it was clicked at least once (a
view-through conversion, with impressions only, counts for nobody's CVR but is still
charged and attributed). A zero denominator gives 0.0. A conversion with no touches is
organic: nobody is charged for it or credited with it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from lamas.economy.ledger import Ledger, NewEntry
from lamas.economy.revenue import CENT
from lamas.errors import InputError
from lamas.protocol.credit import EXACT_LIMIT, ValueFunction, last_touch, shapley
from lamas.protocol.ledger import CreditAllocated, EntryKind, Outcome, TaskOpened, ValueBasis

TouchKind = Literal["impression", "click"]
Rule = Literal["shapley", "last_touch"]
RULES: tuple[Rule, ...] = ("shapley", "last_touch")
NOTE = "traffic: "
"""How every traffic outcome's note begins: what `read_traffic` looks for."""


class TrafficError(InputError):
    """Journeys, prices or a batch of traffic cannot be recorded, attributed or read back."""


@dataclass(frozen=True, slots=True)
class Touch:
    """An agent's ad shown to the user (impression) or clicked (click), at some time."""

    agent: str
    kind: TouchKind = "impression"
    at: float = 0.0  # any clock that orders a journey's touches, e.g. seconds since it began

    def __post_init__(self) -> None:
        if not isinstance(self.agent, str) or not 1 <= len(self.agent) <= 128:
            raise TrafficError(f"a touch needs an agent id of 1 to 128 characters: {self.agent!r}")
        if self.kind not in ("impression", "click"):
            raise TrafficError(f"a touch is an 'impression' or a 'click', not {self.kind!r}")
        at = self.at
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise TrafficError(f"a touch's time must be a finite number, got {at!r}")
        object.__setattr__(self, "at", float(at))


@dataclass(frozen=True, slots=True)
class Journey:
    """One user's session: its touches (kept in time order) and whether, for how much, it
    converted. A journey that did not convert has no conversion value."""

    id: str
    touches: tuple[Touch, ...] = ()
    converted: bool = False
    value: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not 1 <= len(self.id) <= 64 or "/" in self.id:
            raise TrafficError(f"a journey id has 1 to 64 characters and no '/': {self.id!r}")
        touches = tuple(self.touches)
        if not all(isinstance(t, Touch) for t in touches):
            raise TrafficError(f"journey {self.id!r}: touches must be Touch objects")
        object.__setattr__(self, "touches", tuple(sorted(touches, key=lambda t: t.at)))
        value = _money(self.value, f"journey {self.id!r}'s conversion value", cents=True)
        if value and not self.converted:
            raise TrafficError(f"journey {self.id!r} did not convert, so its value must be 0")
        object.__setattr__(self, "value", value)

    @property
    def agents(self) -> list[str]:
        """The agents that touched the journey, in order of first touch."""
        return list(dict.fromkeys(t.agent for t in self.touches))


@dataclass(frozen=True, slots=True)
class TrafficPrices:
    """What advertisers pay: per 1000 impressions, per click, per conversion (a fixed
    `cpa` plus `cpa_rate` of the conversion's value), in one currency."""

    cpm: Decimal = Decimal("2.00")
    cpc: Decimal = Decimal("0.30")
    cpa: Decimal = Decimal("5.00")
    cpa_rate: Decimal = Decimal(0)
    currency: str = "EUR"

    def __post_init__(self) -> None:
        for name in ("cpm", "cpc", "cpa", "cpa_rate"):
            object.__setattr__(self, name, _money(getattr(self, name), f"the {name} price"))
        if self.cpa_rate > 1:
            raise TrafficError(f"cpa_rate is a fraction of the value, at most 1: {self.cpa_rate}")
        code = self.currency
        if not (isinstance(code, str) and len(code) == 3 and code.isascii() and code.isupper()):
            raise TrafficError(f"currency must be an ISO 4217 code like 'EUR', got {code!r}")

    def impressions(self, count: int) -> Decimal:
        return (self.cpm * count / 1000).quantize(CENT, rounding=ROUND_HALF_UP)

    def clicks(self, count: int) -> Decimal:
        return (self.cpc * count).quantize(CENT, rounding=ROUND_HALF_UP)

    def conversion(self, value: Decimal) -> Decimal:
        return (self.cpa + self.cpa_rate * value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class LiftModel:
    """How much one touch raises the chance of converting, by kind (each in (0, 1])."""

    impression: float = 0.05
    click: float = 0.25

    def __post_init__(self) -> None:
        for kind in ("impression", "click"):
            lift = getattr(self, kind)
            if isinstance(lift, bool) or not isinstance(lift, int | float) or not 0 < lift <= 1:
                raise TrafficError(f"the {kind} lift must be a number in (0, 1], got {lift!r}")

    def lift(self, kind: TouchKind) -> float:
        return self.click if kind == "click" else self.impression

    def probability(self, touches: Iterable[Touch]) -> float:
        """p = 1 - prod(1 - lift) over the touches: the chance that they convert the user."""
        return 1.0 - math.prod(1.0 - self.lift(t.kind) for t in touches)


def conversion_game(journey: Journey, model: LiftModel | None = None) -> ValueFunction:
    """v(S) = p(touches by S) / p(all touches): the fraction of the conversion S earns."""
    model = model or LiftModel()
    miss: dict[str, float] = {}  # per agent: the chance none of its touches converts
    for touch in journey.touches:
        miss[touch.agent] = miss.get(touch.agent, 1.0) * (1.0 - model.lift(touch.kind))
    everyone = 1.0 - math.prod(miss.values())
    if everyone <= 0:
        raise TrafficError(f"journey {journey.id!r} has no touches: there is nothing to share")

    def value(coalition: frozenset[str]) -> float:
        return (1.0 - math.prod(miss[a] for a in coalition if a in miss)) / everyone

    return value


def shares(
    journey: Journey, rule: Rule = "shapley", model: LiftModel | None = None
) -> dict[str, float]:
    """Each touching agent's fraction of the journey's conversion (adding up to 1), in
    order of first touch; {} for a journey with no touches."""
    agents = journey.agents
    if rule not in RULES:
        raise TrafficError(f"unknown attribution rule {rule!r}; rules: {', '.join(RULES)}")
    if not agents:
        return {}
    if rule == "last_touch":
        clicked = [t.agent for t in journey.touches if t.kind == "click"]
        won = last_touch(clicked or [t.agent for t in journey.touches], 1.0)
        return {agent: won.get(agent, 0.0) for agent in agents}
    game = conversion_game(journey, model)
    # Past EXACT_LIMIT agents (2^n coalitions), sample orders: still efficient, and seeded.
    exact = len(agents) <= EXACT_LIMIT
    found = shapley(agents, game) if exact else shapley(agents, game, method="monte_carlo", seed=0)
    raw = {agent: max(share, 0.0) for agent, share in found.items()}
    total = math.fsum(raw.values())
    return {agent: share / total for agent, share in raw.items()}


def split_cents(amount: Decimal, fractions: Mapping[str, float]) -> dict[str, Decimal]:
    """`amount` (to the cent) by `fractions` (non-negative, normalised here), adding up
    exactly: each gets its floor in cents, the cents left go to the largest remainders
    (ties to the one listed first)."""
    if not fractions:
        return {}
    total = math.fsum(max(f, 0.0) for f in fractions.values())
    if total <= 0:
        raise TrafficError("cannot split money by fractions that are all zero")
    cents = int(amount.quantize(CENT) / CENT)
    exact = {key: cents * max(f, 0.0) / total for key, f in fractions.items()}
    floors = {key: math.floor(x) for key, x in exact.items()}
    order = sorted(exact, key=lambda key: -(exact[key] - floors[key]))
    for index in range(max(cents - sum(floors.values()), 0)):
        floors[order[index % len(order)]] += 1
    return {key: Decimal(floors[key]) * CENT for key in fractions}


def attribute(
    journey: Journey, rule: Rule = "shapley", model: LiftModel | None = None
) -> dict[str, Decimal]:
    """The journey's conversion value split among its agents by `rule`, to the cent."""
    return split_cents(journey.value, shares(journey, rule, model))


@dataclass(frozen=True, slots=True)
class Rates:
    """An agent's traffic: counts, and the click-through and conversion rates."""

    impressions: int = 0
    clicks: int = 0
    conversions: int = 0  # converted journeys in which the agent was clicked

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def cvr(self) -> float:
        return self.conversions / self.clicks if self.clicks else 0.0


def rates(journeys: Iterable[Journey]) -> dict[str, Rates]:
    """Each agent's impressions, clicks, conversions, CTR and CVR, in order of first touch."""
    return {agent: row.rates() for agent, row in _tally_touches(journeys).items()}


# --- a batch's report, from memory or from the ledger ------------------------------------


@dataclass(frozen=True, slots=True)
class AgentTraffic:
    """What one agent did and earned: its rates, its revenue by basis (CPA = its credited
    share of the conversion fees), and the conversion value each rule attributes to it."""

    agent: str
    rates: Rates
    cpm: Decimal = Decimal("0.00")
    cpc: Decimal = Decimal("0.00")
    cpa: Decimal = Decimal("0.00")
    shapley: Decimal = Decimal("0.00")
    last_touch: Decimal = Decimal("0.00")

    @property
    def revenue(self) -> Decimal:
        return self.cpm + self.cpc + self.cpa


@dataclass(frozen=True, slots=True)
class TrafficReport:
    """Traffic of one batch (or several) per agent, and its conversions in total.

    `rule` is the rule the conversion fees were credited by (None without conversions;
    "mixed" when batches read together used different rules)."""

    agents: dict[str, AgentTraffic] = field(hash=False)
    currency: str
    rule: str | None
    conversions: int
    conversion_value: Decimal
    fees: Decimal


@dataclass(slots=True)
class _Row:
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    money: dict[str, Decimal] = field(default_factory=dict)

    def rates(self) -> Rates:
        return Rates(self.impressions, self.clicks, self.conversions)

    def add(self, what: str, amount: Decimal) -> None:
        self.money[what] = self.money.get(what, Decimal("0.00")) + amount


def _tally_touches(journeys: Iterable[Journey]) -> dict[str, _Row]:
    rows: dict[str, _Row] = {}
    for journey in journeys:
        if not isinstance(journey, Journey):
            raise TrafficError(f"expected Journey objects, got {type(journey).__name__}")
        for touch in journey.touches:
            row = rows.setdefault(touch.agent, _Row())
            if touch.kind == "click":
                row.clicks += 1
            else:
                row.impressions += 1
        if journey.converted:
            for agent in dict.fromkeys(t.agent for t in journey.touches if t.kind == "click"):
                rows[agent].conversions += 1
    return rows


class _Report:
    """Accumulates a report; conversions count and are attributed the same way whether
    the journey comes from memory or from the ledger."""

    def __init__(self, rows: dict[str, _Row] | None = None) -> None:
        self.rows = rows if rows is not None else {}
        self.rules: set[str] = set()
        self.conversions = 0
        self.value = Decimal("0.00")
        self.fees = Decimal("0.00")

    def row(self, agent: str) -> _Row:
        return self.rows.setdefault(agent, _Row())

    def conversion(
        self, journey: Journey, model: LiftModel, fee: Decimal, credit: Mapping[str, Decimal]
    ) -> None:
        self.conversions += 1
        self.value += journey.value
        self.fees += fee
        for agent, amount in credit.items():
            self.row(agent).add("cpa", amount)
        for rule in RULES:
            for agent, amount in attribute(journey, rule, model).items():
                self.row(agent).add(rule, amount)

    def build(self, currency: str) -> TrafficReport:
        zero = Decimal("0.00")
        agents = {
            agent: AgentTraffic(
                agent,
                row.rates(),
                *(row.money.get(what, zero) for what in ("cpm", "cpc", "cpa", *RULES)),
            )
            for agent, row in self.rows.items()
        }
        rule = None if not self.rules else self.rules.pop() if len(self.rules) == 1 else "mixed"
        return TrafficReport(agents, currency, rule, self.conversions, self.value, self.fees)


def summarise(
    journeys: Iterable[Journey],
    prices: TrafficPrices | None = None,
    *,
    rule: Rule = "shapley",
    model: LiftModel | None = None,
) -> TrafficReport:
    """The report of a batch of journeys, computed in memory (what `record_traffic` writes)."""
    prices, model = prices or TrafficPrices(), model or LiftModel()
    journeys = list(journeys)
    report = _Report(_tally_touches(journeys))
    for row in report.rows.values():
        row.add("cpm", prices.impressions(row.impressions))
        row.add("cpc", prices.clicks(row.clicks))
    for journey in journeys:
        if journey.converted and journey.touches:
            fee = prices.conversion(journey.value)
            report.rules.add(rule)
            report.conversion(journey, model, fee, split_cents(fee, shares(journey, rule, model)))
    return report.build(prices.currency)


def record_traffic(
    ledger: Ledger,
    journeys: Iterable[Journey],
    prices: TrafficPrices | None = None,
    *,
    batch: str,
    rule: Rule = "shapley",
    model: LiftModel | None = None,
    owners: Mapping[str, str] | None = None,
) -> TrafficReport:
    """Write a batch of journeys to the ledger (see the module doc) and return its report.

    `owners` maps agents to their entities, named on their entries. Everything is checked
    before anything is written; the outcomes go in one transaction, then the credits
    (which name the outcomes' sequence numbers) in a second. A batch id already in the
    ledger is refused.
    """
    prices, model, owners = prices or TrafficPrices(), model or LiftModel(), owners or {}
    if rule not in RULES:
        raise TrafficError(f"unknown attribution rule {rule!r}; rules: {', '.join(RULES)}")
    journeys = list(journeys)
    report = summarise(journeys, prices, rule=rule, model=model)  # checks journeys and rule
    if not isinstance(batch, str) or not 1 <= len(batch) <= 63 or "/" in batch:
        raise TrafficError(f"a batch id has 1 to 63 characters and no '/': {batch!r}")
    seen = [j.id for j in journeys]
    if len(set(seen)) != len(seen):
        twice = sorted({i for i in seen if seen.count(i) > 1})
        raise TrafficError(f"journey ids must be unique in a batch; repeated: {twice[:5]}")
    bad = {a: e for a, e in owners.items() if not isinstance(e, str) or not 1 <= len(e) <= 128}
    if bad:
        raise TrafficError(f"entity ids have 1 to 128 characters: {bad}")
    if next(ledger.entries(task_id=batch, limit=1), None) is not None:
        raise TrafficError(f"batch {batch!r} is already in the ledger; choose another batch id")
    currency = prices.currency
    entries = [
        NewEntry(
            EntryKind.TASK_OPENED,
            batch,
            TaskOpened(instruction=f"traffic: a batch of {len(journeys)} journeys"),
        )
    ]
    for agent, counts in rates(journeys).items():
        for basis, units, value, what in (
            (ValueBasis.CPM, counts.impressions, prices.impressions, "impressions"),
            (ValueBasis.CPC, counts.clicks, prices.clicks, "clicks"),
        ):
            if units:
                price = prices.cpm if basis is ValueBasis.CPM else prices.cpc
                payload = Outcome(
                    value=value(units),
                    currency=currency,
                    basis=basis,
                    units=units,
                    note=f"{NOTE}{units} {what} at {price} {currency} {basis.name}",
                )
                entries.append(
                    NewEntry(EntryKind.OUTCOME, batch, payload, agent, owners.get(agent))
                )
    converted = [j for j in journeys if j.converted and j.touches]
    for journey in converted:
        payload = Outcome(
            value=prices.conversion(journey.value),
            currency=currency,
            basis=ValueBasis.CPA,
            units=1,
            note=f"{NOTE}conversion of {journey.value} {currency}",
            components=journey_components(journey, model),
        )
        entries.append(NewEntry(EntryKind.OUTCOME, f"{batch}/{journey.id}", payload))
    written = ledger.append_many(entries)
    credits = []
    for journey, outcome in zip(converted, written[len(written) - len(converted) :], strict=True):
        fee = prices.conversion(journey.value)
        for agent, amount in split_cents(fee, shares(journey, rule, model)).items():
            share = CreditAllocated(
                amount=amount, currency=currency, rule=rule, outcome=outcome.sequence
            )
            credits.append(
                NewEntry(
                    EntryKind.CREDIT_ALLOCATED, outcome.task_id, share, agent, owners.get(agent)
                )
            )
    ledger.append_many(credits)
    return report


def read_traffic(ledger: Ledger, *, batch: str | None = None) -> TrafficReport:
    """The traffic report rebuilt from the ledger alone: of one batch, or of every batch."""

    def ours(task_id: str) -> bool:
        return batch is None or task_id == batch or task_id.startswith(f"{batch}/")

    report = _Report()
    currencies: set[str] = set()
    conversions: dict[int, tuple[Journey, LiftModel, Decimal]] = {}
    for entry in ledger.entries(kind=EntryKind.OUTCOME):
        body = entry.body()
        if (
            not isinstance(body, Outcome)
            or not body.note.startswith(NOTE)
            or not ours(entry.task_id)
        ):
            continue
        currencies.add(body.currency)
        if body.basis is ValueBasis.CPA:
            journey, model = journey_from_components(body.components, entry.sequence)
            conversions[entry.sequence] = (journey, model, body.value)
        elif body.basis in (ValueBasis.CPM, ValueBasis.CPC) and entry.agent and body.units:
            row = report.row(entry.agent)
            if body.basis is ValueBasis.CPM:
                row.impressions += body.units
            else:
                row.clicks += body.units
            row.add(body.basis.value, body.value)
        else:
            raise TrafficError(f"ledger entry {entry.sequence} is not a traffic outcome I know")
    where = f"batch {batch!r}" if batch else "any batch"
    if not currencies:
        raise TrafficError(f"the ledger holds no traffic of {where}; record some first")
    if len(currencies) > 1:
        raise TrafficError(f"traffic in several currencies ({sorted(currencies)}); read one batch")
    credit: dict[int, dict[str, Decimal]] = {}
    for entry in ledger.entries(kind=EntryKind.CREDIT_ALLOCATED):
        body = entry.body()
        if isinstance(body, CreditAllocated) and body.outcome in conversions and entry.agent:
            report.rules.add(body.rule)
            shares_of = credit.setdefault(body.outcome, {})
            shares_of[entry.agent] = shares_of.get(entry.agent, Decimal(0)) + body.amount
    for sequence, (journey, model, fee) in conversions.items():
        for agent in journey.agents:
            report.row(agent)
        for agent in dict.fromkeys(t.agent for t in journey.touches if t.kind == "click"):
            report.row(agent).conversions += 1
        report.conversion(journey, model, fee, credit.get(sequence, {}))
    return report.build(currencies.pop())


def journey_components(journey: Journey, model: LiftModel) -> tuple[dict[str, Any], ...]:
    """A converted journey as an outcome's components: the conversion, then each touch."""
    head = {
        "label": "conversion",
        "journey": journey.id,
        "value": str(journey.value),
        "lifts": {"impression": model.impression, "click": model.click},
    }
    return (head, *({"label": t.kind, "agent": t.agent, "at": t.at} for t in journey.touches))


def journey_from_components(
    components: Sequence[Mapping[str, Any]], sequence: int = 0
) -> tuple[Journey, LiftModel]:
    """The journey and lift model that `journey_components` wrote."""
    try:
        head, *touches = components
        lifts = head["lifts"]
        model = LiftModel(float(lifts["impression"]), float(lifts["click"]))
        journey = Journey(
            str(head["journey"]),
            tuple(Touch(str(t["agent"]), t["label"], float(t["at"])) for t in touches),
            converted=True,
            value=Decimal(str(head["value"])),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation, InputError) as error:
        raise TrafficError(
            f"ledger entry {sequence}'s components are not a traffic journey: {error}"
        ) from None
    return journey, model


# --- synthetic traffic -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """How an agent reaches users in a simulation: its relative share of the ad slots
    (`reach`), the chance that one of its impressions is clicked (`ctr`), and its place in
    the funnel (`stage`: a journey meets lower stages first, e.g. 0 = awareness)."""

    agent: str
    reach: float = 1.0
    ctr: float = 0.1
    stage: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.reach) and self.reach > 0 and 0 <= self.ctr <= 1):
            raise TrafficError(f"{self.agent}: reach must be > 0 and ctr in [0, 1]")


def simulate_journeys(
    audiences: Sequence[Audience],
    count: int,
    *,
    seed: int,
    model: LiftModel | None = None,
    max_impressions: int = 4,
    values: tuple[Decimal, Decimal] = (Decimal("40.00"), Decimal("400.00")),
) -> list[Journey]:
    """`count` journeys, the same for the same seed: 1 to `max_impressions` ads, each of an
    agent drawn by reach, met in funnel order (by stage) and clicked with the agent's ctr;
    the journey converts with the probability `model` gives its touches, for a value drawn
    uniformly (in cents) from `values`."""
    model = model or LiftModel()
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise TrafficError(f"the number of journeys must be 0 or more, got {count!r}")
    if not audiences:
        raise TrafficError("a simulation needs at least one agent to show ads")
    if max_impressions < 1:
        raise TrafficError(f"max_impressions must be at least 1, got {max_impressions}")
    low, high = (int(_money(v, "a simulated value", cents=True) / CENT) for v in values)
    rng = random.Random(seed)
    weights = [a.reach for a in audiences]
    width = len(str(count))
    journeys = []
    for number in range(1, count + 1):
        shown = rng.choices(audiences, weights, k=rng.randint(1, max_impressions))
        touches = []
        for step, who in enumerate(sorted(shown, key=lambda a: a.stage)):
            touches.append(Touch(who.agent, "impression", 2.0 * step))
            if rng.random() < who.ctr:
                touches.append(Touch(who.agent, "click", 2.0 * step + 1))
        converted = rng.random() < model.probability(touches)
        value = Decimal(rng.randint(low, high)) * CENT if converted else Decimal(0)
        journeys.append(Journey(f"j{number:0{width}d}", tuple(touches), converted, value))
    return journeys


def _money(value: object, what: str, *, cents: bool = False) -> Decimal:
    if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
        raise TrafficError(f"{what} must be a Decimal, int or string (not a float): {value!r}")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise TrafficError(f"{what} is not a number: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise TrafficError(f"{what} must be a finite amount of 0 or more, got {value}")
    if cents:
        if amount != amount.quantize(CENT):
            raise TrafficError(f"{what} must be given to the cent, got {value}")
        return amount.quantize(CENT)
    return amount
