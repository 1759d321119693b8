"""`lamas privacy keygen` and the differentially private CTR of `lamas traffic report`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lamas.cli.main import app
from lamas.privacy.keys import load_key

runner = CliRunner()


def test_keygen_writes_a_private_key_file_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "vault.key"
    made = runner.invoke(app, ["privacy", "keygen", "--file", str(path)])
    assert made.exit_code == 0, made.output
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(load_key(path.read_text()).secret) == 32
    again = runner.invoke(app, ["privacy", "keygen", "--file", str(path)])
    assert again.exit_code == 2
    assert "never overwritten" in again.output
    printed = runner.invoke(app, ["privacy", "keygen", "--print"])
    assert len(load_key(printed.output.strip()).secret) == 32


def test_traffic_report_shares_a_private_ctr_until_the_budget_is_spent(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 't.db'}"
    simulated = runner.invoke(app, ["traffic", "simulate", "-j", "200", "--db", db, "--batch", "b"])
    assert simulated.exit_code == 0, simulated.output
    args = [
        "traffic",
        "report",
        "--db",
        db,
        "--batch",
        "b",
        "--dp-epsilon",
        "1",
        "--dp-budget",
        "2",
    ]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "differentially private" in first.output
    assert "1 of 2 epsilon left" in first.output
    assert runner.invoke(app, args).exit_code == 0
    spent = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert spent.exit_code == 2
    assert "epsilon 0, delta 0 left of 2" in spent.output
