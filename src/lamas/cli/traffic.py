"""`lamas traffic simulate`, `lamas traffic report`: ad traffic, priced and attributed."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from lamas.cli._common import DbOption, fail
from lamas.errors import LamasError

if TYPE_CHECKING:
    from lamas.economy.attribution import AgentTraffic, Audience, TrafficReport
    from lamas.economy.ledger import Ledger

traffic_app = typer.Typer(
    help="Traffic monetization: impressions, clicks and conversions priced by CPM, CPC and "
    "CPA, each conversion attributed by Shapley or last touch.",
    no_args_is_help=True,
)

out = Console()

# How the travel example's agents reach users in a simulation: (reach, ctr, funnel stage).
# The maps agent is everywhere early (awareness) and rarely clicked; the vendors are met
# later, when the user is choosing, and clicked more. Other agents get DEFAULT_AUDIENCE.
TRAVEL_AUDIENCES = {
    "navigator": (3.0, 0.02, 0),
    "railgo": (1.0, 0.20, 1),
    "swiftrail": (0.8, 0.15, 1),
    "staywell": (1.0, 0.25, 1),
}
DEFAULT_AUDIENCE = (1.0, 0.10, 1)
NOT_ADVERTISERS = {"platform", "user"}  # entities whose agents show no ads

BatchOption = Annotated[
    str | None,
    typer.Option("--batch", help="the batch id (default for simulate: traffic-s<SEED>-n<N>)"),
]


@traffic_app.command("simulate")
def simulate(
    journeys: Annotated[
        int, typer.Option("--journeys", "-j", help="how many user journeys to simulate")
    ] = 200,
    seed: Annotated[int, typer.Option(help="random seed: the same seed, the same journeys")] = 0,
    db: DbOption = None,
    batch: BatchOption = None,
    network: Annotated[
        Path | None,
        typer.Option(help="network file whose agents show the ads (default: the travel example)"),
    ] = None,
    rule: Annotated[
        str, typer.Option(help="how conversion fees are credited: shapley or last_touch")
    ] = "shapley",
    cpm: Annotated[str, typer.Option(help="price per 1000 impressions")] = "2.00",
    cpc: Annotated[str, typer.Option(help="price per click")] = "0.30",
    cpa: Annotated[str, typer.Option(help="fixed price per conversion")] = "5.00",
    cpa_rate: Annotated[str, typer.Option(help="plus this fraction of the conversion value")] = "0",
    currency: Annotated[str, typer.Option(help="ISO 4217 currency code")] = "EUR",
) -> None:
    """Simulate user journeys over a network's agents, record them in the ledger, and show
    each agent's traffic, revenue and attributed conversion value, read back from it."""
    from sqlalchemy.exc import SQLAlchemyError

    from lamas.economy.attribution import (
        RULES,
        TrafficPrices,
        read_traffic,
        record_traffic,
        simulate_journeys,
    )
    from lamas.store.errors import store_error

    if journeys < 1:
        raise fail(ValueError(f"--journeys must be 1 or more, got {journeys}"))
    if rule not in RULES:
        raise fail(ValueError(f"--rule must be one of {', '.join(RULES)}, got {rule!r}"))
    try:
        prices = TrafficPrices(
            _decimal(cpm, "--cpm"),
            _decimal(cpc, "--cpc"),
            _decimal(cpa, "--cpa"),
            _decimal(cpa_rate, "--cpa-rate"),
            currency,
        )
        audiences, owners = _audiences(network)
        simulated = simulate_journeys(audiences, journeys, seed=seed)
        ledger = _writer(db)
        name = batch or f"traffic-s{seed}-n{journeys}"
        record_traffic(ledger, simulated, prices, batch=name, rule=rule, owners=owners)
        report = read_traffic(ledger, batch=name)
    except (LamasError, ValueError) as error:
        raise fail(error) from None
    except SQLAlchemyError as error:
        raise fail(store_error(error, "the ledger")) from None
    except OSError as error:
        raise fail(RuntimeError(f"cannot write the ledger: {error}")) from None
    out.print(
        f"recorded batch [bold]{name}[/]: {journeys} journeys, {report.conversions} converted"
    )
    show(report, f"traffic of batch {name}")


@traffic_app.command("report")
def report(
    db: DbOption = None,
    batch: BatchOption = None,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(
            "--dp-epsilon",
            help="also show the CTR per agent as shared with advertisers: impressions and "
            "clicks released with epsilon-differential privacy (Laplace noise), paid from "
            "the batch's privacy budget",
        ),
    ] = None,
    dp_budget: Annotated[
        float,
        typer.Option("--dp-budget", help="the batch's total privacy budget (epsilon), tracked"),
    ] = 3.0,
    dp_ads: Annotated[
        int,
        typer.Option(
            "--dp-ads", help="the most ads one journey shows (bounds one user's effect; 4 in sims)"
        ),
    ] = 4,
) -> None:
    """Each agent's traffic, revenue and attributed conversion value, read from the ledger;
    with --dp-epsilon, the CTR per agent as advertisers get it, under differential privacy."""
    from sqlalchemy.exc import SQLAlchemyError

    from lamas.economy.attribution import read_traffic
    from lamas.economy.ledger import Ledger
    from lamas.store import create_engine
    from lamas.store.errors import store_error

    try:
        traffic = read_traffic(Ledger(create_engine(db)), batch=batch)
    except LamasError as error:
        raise fail(error) from None
    except SQLAlchemyError as error:
        raise fail(store_error(error, "the ledger")) from None
    show(traffic, f"traffic of batch {batch}" if batch else "traffic of every batch")
    if dp_epsilon is not None:
        try:
            show_private_ctr(traffic, db, batch, dp_epsilon, dp_budget, dp_ads)
        except LamasError as error:
            raise fail(error) from None


def show_private_ctr(
    traffic: TrafficReport,
    db: str | None,
    batch: str | None,
    epsilon: float,
    budget: float,
    max_ads: int,
) -> None:
    """The CTR per agent released under epsilon-DP, from the batch's tracked budget."""
    from lamas.privacy.dp import DPStatistics, PrivacyBudget
    from lamas.store import create_engine

    dataset = f"traffic:{batch or '*'}"
    stats = DPStatistics(PrivacyBudget(dataset, epsilon=budget, engine=create_engine(db)))
    pairs = {a.agent: (a.rates.clicks, a.rates.impressions) for a in traffic.agents.values()}
    release = stats.rates_by_group(
        pairs, max_contribution=max_ads, epsilon=epsilon, query="traffic report: CTR per agent"
    )
    table = Table(
        title=f"CTR shared with advertisers ({epsilon:g}-differentially private, Laplace "
        f"scale {release.scale:g})"
    )
    for column in ("agent", "impr. (noisy)", "clicks (noisy)", "CTR (noisy)", "CTR (exact)"):
        table.add_column(column, justify="left" if column == "agent" else "right")
    for agent, (clicks, impressions, ctr) in release.value.items():
        exact = traffic.agents[agent].rates.ctr
        table.add_row(agent, str(impressions), str(clicks), f"{ctr:.1%}", f"{exact:.1%}")
    out.print(table)
    left = stats.budget.remaining[0]
    out.print(
        f"[dim]privacy budget of {dataset}: {left:g} of {budget:g} epsilon left; the exact "
        "column is the platform's own view and is never shared.[/]"
    )


TRAFFIC_COLUMNS = ("impr.", "clicks", "CTR", "conv.", "CVR")
MONEY_COLUMNS = ("CPM", "CPC", "CPA", "revenue", "value: Shapley", "value: last touch")
NARROW_MONEY_COLUMNS = ("CPM", "CPC", "CPA", "revenue", "Shapley", "last touch")
WIDE = 140  # columns one table of all of them needs; narrower, it is shown as two


def show(report: TrafficReport, title: str, console: Console | None = None) -> None:
    """The per-agent table: rates, revenue by basis, conversion value by rule. On a terminal
    narrower than `WIDE` (80 columns, say) it is two tables, traffic then money, so that no
    cell is cut; piped or captured, one wide table."""
    cur = report.currency
    rule = (report.rule or "-").replace("_", " ")
    summary = (
        f"{title}: {report.conversions} conversions worth {report.conversion_value} "
        f"{cur}, fees {report.fees} {cur} credited by {rule}"
    )
    agents = list(report.agents.values())
    rows = [
        [
            agent.agent,
            str(agent.rates.impressions),
            str(agent.rates.clicks),
            f"{agent.rates.ctr:.1%}",
            str(agent.rates.conversions),
            f"{agent.rates.cvr:.1%}",
            *(str(m) for m in _money(agent)),
        ]
        for agent in agents
    ]
    zero = Decimal("0.00")
    total = [
        "total",
        str(sum(a.rates.impressions for a in agents)),
        str(sum(a.rates.clicks for a in agents)),
        "",
        # Converted journeys, each once: the summary's figure. Not the column's sum, which
        # counts a journey once per agent clicked in it and never one converted unclicked.
        str(report.conversions),
        "",
        *(str(sum(column, zero)) for column in zip(*map(_money, agents), strict=True)),
    ]
    if console is None:
        console = out if out.is_terminal else Console(width=max(out.width, 160))
    wide = console.width >= WIDE
    columns = ("agent", *TRAFFIC_COLUMNS, *(MONEY_COLUMNS if wide else NARROW_MONEY_COLUMNS))
    if wide:
        parts = [(summary, list(range(len(columns))))]
    else:
        split = 1 + len(TRAFFIC_COLUMNS)
        parts = [
            (summary, list(range(split))),
            (f"revenue, and conversion value by rule ({cur})", [0, *range(split, len(columns))]),
        ]
    for caption, keep in parts:
        table = Table(title=caption)
        for i in keep:
            # Figures never wrap; an agent's long id may (wrapped, not cut).
            table.add_column(columns[i], justify="left" if i == 0 else "right", no_wrap=i > 0)
        for row in rows:
            table.add_row(*(row[i] for i in keep))
        table.add_row(*(total[i] for i in keep), style="bold")
        console.print(table)
    console.print(
        "[dim]conv.: converted journeys in which the agent was clicked (CVR = conv. / clicks); "
        "the total counts each converted journey once, clicked or not. "
        f"CPA: each agent's share of the conversion fees, as credited in the ledger; "
        f"value: each conversion's value ({cur}) split by Shapley over a lift model of the "
        "touches, or all to the last click (else the last impression).[/]"
    )


def _money(agent: AgentTraffic) -> tuple[Decimal, ...]:
    return (agent.cpm, agent.cpc, agent.cpa, agent.revenue, agent.shapley, agent.last_touch)


def _decimal(text: str, option: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{option} must be a decimal amount like 2.50, got {text!r}") from None


def _audiences(network: Path | None) -> tuple[list[Audience], dict[str, str]]:
    """The agents that show ads (not the platform's, not the user's), and their owners."""
    from lamas.cli.demo import examples_dir
    from lamas.economy.attribution import Audience
    from lamas.runtime.netfile import load_spec

    spec = load_spec(network or examples_dir() / "travel" / "network.yaml")
    cards = [a.card for a in spec.agents if a.card.entity not in NOT_ADVERTISERS]
    if not cards:
        raise ValueError(f"network {spec.name!r} has no agents outside the platform and user")
    audiences = [Audience(c.id, *TRAVEL_AUDIENCES.get(c.id, DEFAULT_AUDIENCE)) for c in cards]
    return audiences, {c.id: c.entity for c in cards}


def _writer(url: str | None) -> Ledger:
    from lamas.economy.ledger import platform_ledger

    return platform_ledger(url)
