"""`lamas credit compare`, `lamas market list`, `lamas bill`: the economy, read from the ledger."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lamas.cli._common import DbOption, fail, open_ledger
from lamas.errors import LamasError

if TYPE_CHECKING:
    from lamas.economy.ledger import Ledger
    from lamas.economy.market import Usage
    from lamas.protocol.cards import AgentCard

credit_app = typer.Typer(help="Credit allocation: Shapley and the alternatives, per task.")
market_app = typer.Typer(help="The marketplace: agents' skills and prices.")

out = Console()

NetworkOption = Annotated[
    list[Path] | None,
    typer.Option("--network", "-n", help="network files whose cards carry the prices"),
]


def _cards(networks: list[Path] | None) -> dict[str, AgentCard]:
    from lamas.cli.demo import examples_dir
    from lamas.runtime.netfile import load_spec

    files = networks or sorted(examples_dir().glob("*/network.yaml"))
    return {a.card.id: a.card for f in files for a in load_spec(f).agents}


@credit_app.command("compare")
def credit_compare(
    task_id: Annotated[
        str, typer.Argument(help="a task id or a unique prefix of one (see `lamas ledger show`)")
    ],
    db: DbOption = None,
) -> None:
    """Shapley against equal split, proportional to resources, leave-one-out and last touch."""
    from lamas.economy.settlement import Component, Game
    from lamas.protocol.credit import compare
    from lamas.protocol.ledger import EntryKind
    from lamas.store.prefix import resolve_task

    try:
        ledger = open_ledger(db)
        task_id = resolve_task(ledger.engine, task_id)
        entries = list(ledger.entries(task_id=task_id))
        outcome = next((e for e in entries if e.kind == EntryKind.OUTCOME), None)
        if outcome is None:
            state = _last_state(entries)
            raise LamasError(
                f"task {task_id} has no outcome yet: it is {state}, and only a completed "
                "task is settled"
            )
        if str(outcome.payload.get("note", "")).startswith("traffic: "):
            raise LamasError(
                f"task {task_id!r} is a traffic conversion: see `lamas traffic report`"
            )
        game = Game(tuple(Component.from_json(c) for c in outcome.payload["components"]))
        calls: dict[str, float] = {}
        order: list[str] = []
        for entry in entries:
            if entry.kind == EntryKind.STEP_DONE and entry.agent:
                calls[entry.agent] = calls.get(entry.agent, 0.0) + 1.0
                order.append(entry.agent)
        players = game.players
        touched = [agent for agent in order if agent in players]
        rules = compare(
            players,
            game.value,
            resources={p: calls.get(p, 0.0) for p in players},
            order=touched or None,
        )
    except LamasError as error:
        raise fail(error) from None
    table = Table(
        title=f"credit for task {task_id}: value {game.total} {outcome.payload['currency']}"
    )
    table.add_column("agent")
    for rule in rules:
        table.add_column(rule.replace("_", " "), justify="right")
    for player in players:
        table.add_row(player, *(f"{rules[rule].get(player, 0.0):.2f}" for rule in rules))
    out.print(table)


@market_app.command("list")
def market_list(networks: NetworkOption = None) -> None:
    """Every skill on offer, with its owner and price."""
    from lamas.economy.market import listings

    try:
        cards = _cards(networks)
    except LamasError as error:
        raise fail(error) from None
    table = Table(title="marketplace")
    for column in ("entity", "agent", "skill", "price", "description"):
        table.add_column(column)
    for item in listings(cards.values()):
        price = (
            f"{item.price.amount} {item.price.currency}/{item.price.unit}" if item.price else "-"
        )
        table.add_row(item.entity, item.agent, item.skill, price, item.description[:60])
    out.print(table)


def bill(
    entity: Annotated[str, typer.Argument(help="the entity to bill, e.g. railgo")],
    period: Annotated[
        str | None, typer.Option(help="the month, YYYY-MM (default: this month, UTC)")
    ] = None,
    networks: NetworkOption = None,
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """What an entity's agents earned in a period: their metered use, priced by their cards."""
    from lamas.economy.market import bill as make_bill
    from lamas.economy.market import invoice_csv, invoice_json

    if fmt not in ("table", "csv", "json"):
        raise fail(ValueError(f"--format must be table, csv or json, not {fmt!r}"))
    period = _check_period(period)
    try:
        cards = _cards(networks)
        if entity not in {c.entity for c in cards.values()}:
            known = ", ".join(sorted({c.entity for c in cards.values()}))
            raise LamasError(f"no agent of entity {entity!r} in these networks (entities: {known})")
        lines = make_bill(cards, usage(open_ledger(db)), entity=entity, period=period)
    except LamasError as error:
        raise fail(error) from None
    if fmt == "csv":
        print(invoice_csv(lines), end="")
        return
    if fmt == "json":
        print(invoice_json(lines))
        return
    table = Table(title=f"bill for {entity}, {period}")
    for column in ("agent", "skill", "calls", "unit price", "amount"):
        table.add_column(column, justify="left" if column in ("agent", "skill") else "right")
    for line in lines:
        table.add_row(
            line.agent,
            line.skill,
            str(line.calls),
            f"{line.unit_price}/{line.unit}",
            f"{line.amount} {line.currency}",
        )
    # One total per currency: amounts in different currencies do not add up.
    totals: dict[str, Decimal] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, Decimal(0)) + line.amount
    for currency, total in sorted(totals.items()):
        table.add_row("", "total", "", "", f"{total} {currency}", style="bold")
    out.print(table)


def payouts(
    period: Annotated[
        str | None, typer.Option(help="the month, YYYY-MM (default: this month, UTC)")
    ] = None,
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """What each entity is owed for a period: the ledger's payouts, summed."""
    import csv
    import io
    import json
    from decimal import Decimal

    from lamas.protocol.ledger import EntryKind

    if fmt not in ("table", "csv", "json"):
        raise fail(ValueError(f"--format must be table, csv or json, not {fmt!r}"))
    period = _check_period(period)
    owed: dict[tuple[str, str], Decimal] = {}
    tasks: dict[tuple[str, str], set[str]] = {}
    try:
        for entry in open_ledger(db).entries(kind=EntryKind.PAYOUT):
            if entry.at.strftime("%Y-%m") != period or entry.entity is None:
                continue
            key = (entry.entity, str(entry.payload["currency"]))
            owed[key] = owed.get(key, Decimal(0)) + Decimal(str(entry.payload["amount"]))
            tasks.setdefault(key, set()).add(entry.task_id)
    except LamasError as error:
        raise fail(error) from None
    rows = [
        {"entity": e, "currency": c, "tasks": len(tasks[(e, c)]), "amount": str(owed[(e, c)])}
        for (e, c) in sorted(owed)
    ]
    if fmt == "json":
        print(json.dumps(rows, indent=2))
        return
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["entity", "currency", "tasks", "amount"])
        writer.writeheader()
        writer.writerows(rows)
        print(buffer.getvalue(), end="")
        return
    table = Table(title=f"payouts, {period}")
    for column in ("entity", "tasks", "amount"):
        table.add_column(column, justify="left" if column == "entity" else "right")
    for row in rows:
        table.add_row(str(row["entity"]), str(row["tasks"]), f"{row['amount']} {row['currency']}")
    out.print(table)


def _check_period(period: str | None) -> str:
    """The month asked for, or this one (UTC, as the ledger's times are)."""
    if period is None:
        import datetime as dt

        return dt.datetime.now(dt.UTC).strftime("%Y-%m")
    if len(period) != 7 or period[4] != "-" or not period.replace("-", "").isdigit():
        raise fail(ValueError(f"--period must be YYYY-MM, got {period!r}"))
    return period


def usage(ledger: Ledger) -> list[Usage]:
    """Metered use from the ledger: each step.done, with its step.assigned's capability."""
    from lamas.economy.market import Usage
    from lamas.protocol.ledger import EntryKind

    skills: dict[tuple[str, str], str] = {}
    found = []
    for entry in ledger.entries():
        step = entry.payload.get("step_id")
        if entry.kind == EntryKind.STEP_ASSIGNED:
            skills[(entry.task_id, str(step))] = str(entry.payload["capability"])
        elif entry.kind == EntryKind.STEP_DONE and entry.agent and entry.payload.get("ok", True):
            resources = entry.payload.get("resources", {})
            found.append(
                Usage(
                    entry.agent,
                    skills.get((entry.task_id, str(step)), str(step)),
                    entry.at.strftime("%Y-%m"),
                    calls=1,
                    tokens=int(resources.get("prompt_tokens", 0))
                    + int(resources.get("completion_tokens", 0)),
                    seconds=float(resources.get("seconds", 0.0)),
                )
            )
    return found


def _last_state(entries: list[Any]) -> str:
    """A task's last recorded state, from its `task.status` entries."""
    states = [e.payload.get("state") for e in entries if e.kind.value == "task.status"]
    return str(states[-1]) if states else "still open (no status recorded)"
