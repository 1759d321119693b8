"""`lamas credit compare`, `lamas bill`, `lamas market list` over a real ledger."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lamas.cli.main import app
from lamas.economy.ledger import Ledger, NewEntry
from lamas.economy.settlement import Component
from lamas.protocol.ledger import EntryKind, Outcome, Resources, StepAssigned, StepDone
from lamas.security.identity import PrivateKey
from lamas.store import create_engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = Ledger(create_engine(url), PrivateKey.generate())
    entries = []
    for step, skill, agent, entity in [
        ("ticket.search", "ticket.search", "railgo", "railgo"),
        ("ticket.book", "ticket.book", "railgo", "railgo"),
        ("hotel.search", "hotel.search", "staywell", "staywell-hotels"),
    ]:
        entries += [
            NewEntry(
                EntryKind.STEP_ASSIGNED,
                "t1",
                StepAssigned(step_id=step, capability=skill),
                agent,
                entity,
            ),
            NewEntry(
                EntryKind.STEP_DONE,
                "t1",
                StepDone(step_id=step, resources=Resources(seconds=0.5)),
                agent,
                entity,
            ),
        ]
    ledger.append_many(entries)
    component = Component(
        "ticket.book", Decimal("3.00"), (frozenset({"railgo"}), frozenset({"personal"}))
    )
    ledger.append(
        EntryKind.OUTCOME,
        task_id="t1",
        payload=Outcome(
            value=Decimal("3.00"), currency="EUR", basis="cpa", components=(component.as_json(),)
        ),
    )
    return url


def test_credit_compare_shows_every_rule(db: str) -> None:
    result = runner.invoke(app, ["credit", "compare", "t1", "--db", db])
    assert result.exit_code == 0, result.output
    for rule in ("shapley", "equal split", "last touch"):
        assert rule in result.stdout
    assert "1.50" in result.stdout  # railgo and personal split the 3.00 booking


def test_credit_compare_for_an_unknown_task_says_there_is_no_such_task(db: str) -> None:
    # (A task that exists but has not completed says "has no outcome yet": test_ids_cli.py.)
    result = runner.invoke(app, ["credit", "compare", "nope", "--db", db])
    assert result.exit_code == 2
    assert "no task 'nope'" in result.output


def test_bill_prices_the_metered_use(db: str) -> None:
    network = str(EXAMPLES / "travel" / "network.yaml")
    period = __import__("datetime").date.today().strftime("%Y-%m")
    result = runner.invoke(
        app,
        ["bill", "railgo", "--period", period, "--network", network, "--db", db, "--format", "csv"],
    )
    assert result.exit_code == 0, result.output
    rows = {r["skill"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["ticket.book"]["calls"] == "1"
    assert rows["ticket.book"]["currency"] == "EUR"
    assert Decimal(rows["ticket.book"]["amount"]) > 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["bill", "railgo", "--period", "2026-13x"], "YYYY-MM"),
        (["bill", "nobody", "--period", "2026-11"], "no agent of entity 'nobody'"),
        (["bill", "railgo", "--period", "2026-11", "--format", "xml"], "--format"),
    ],
)
def test_bill_refuses_bad_input(db: str, arguments: list[str], message: str) -> None:
    result = runner.invoke(app, [*arguments, "--db", db])
    assert result.exit_code == 2
    assert message in result.output


def test_market_lists_priced_skills() -> None:
    result = runner.invoke(
        app, ["market", "list", "--network", str(EXAMPLES / "travel" / "network.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "ticket.book" in result.stdout
    assert "EUR/call" in result.stdout


def test_payouts_sum_a_periods_payouts_per_entity(tmp_path: Path) -> None:
    import datetime as dt
    import json

    from lamas.protocol.ledger import Payout

    url = f"sqlite:///{tmp_path / 'p.db'}"
    ledger = Ledger(create_engine(url), PrivateKey.generate())
    for task, amount in (("t1", "1.25"), ("t2", "2.50")):
        ledger.append(
            EntryKind.PAYOUT,
            task_id=task,
            entity="railgo",
            payload=Payout(amount=Decimal(amount), currency="EUR"),
        )
    period = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    result = runner.invoke(app, ["payouts", "--period", period, "--db", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"entity": "railgo", "currency": "EUR", "tasks": 2, "amount": "3.75"}
    ]
    assert runner.invoke(app, ["payouts", "--period", "11-2026", "--db", url]).exit_code == 2
    # Without --period: this month's (the entries were just written).
    default = runner.invoke(app, ["payouts", "--db", url, "--format", "json"])
    assert default.exit_code == 0, default.output
    assert json.loads(default.stdout) == json.loads(result.stdout)
    old = runner.invoke(app, ["payouts", "--period", "2001-01", "--db", url, "--format", "json"])
    assert json.loads(old.stdout) == []


def test_the_bills_total_row_is_the_sum_of_its_lines(db: str) -> None:
    network = str(EXAMPLES / "travel" / "network.yaml")
    period = __import__("datetime").date.today().strftime("%Y-%m")
    result = runner.invoke(
        app, ["bill", "railgo", "--period", period, "--network", network, "--db", db]
    )
    assert result.exit_code == 0, result.output
    cells = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    lines = [Decimal(row[-1].split()[0]) for row in cells if row[1] != "total" and row[-1]]
    totals = [row[-1] for row in cells if row[1] == "total"]
    assert lines
    assert totals == [f"{sum(lines)} EUR"]
