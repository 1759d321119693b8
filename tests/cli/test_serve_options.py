"""`lamas serve`'s task options: one name each, grouped in --help, old names still taken."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lamas.cli.main import app
from lamas.cli.serve import renamed
from lamas.errors import ConfigError


def test_help_shows_the_new_names_in_their_groups_and_hides_the_old() -> None:
    shown = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    for name in ("--a2a-tasks", "--task-state", "A2A task records", "Orchestrator only"):
        assert name in shown
    assert "--task-store" not in shown
    assert "--tasks " not in shown


def test_an_old_name_is_taken_and_both_names_at_once_are_refused() -> None:
    assert renamed("--task-state", None, "--tasks", "sqlite:///a.db") == "sqlite:///a.db"
    assert renamed("--task-state", "sqlite:///a.db", "--tasks", None) == "sqlite:///a.db"
    with pytest.raises(ConfigError, match="--tasks is the old name of --task-state"):
        renamed("--task-state", "sqlite:///a.db", "--tasks", "sqlite:///b.db")
    refused = CliRunner().invoke(
        app,
        ["serve", "nowhere.yaml", "--a2a-tasks", "sqlite:///a.db", "--task-store", "x://"],
    )
    assert refused.exit_code == 2
    assert "--task-store is the old name of --a2a-tasks" in refused.output


def test_provider_wait_reaches_the_orchestrators_recovery_and_a_negative_one_is_refused(
    tmp_path: Path,
) -> None:
    from lamas.cli.serve import Limits

    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    assert Limits(store, 64, 2048, 12.5).recovery("orchestrator").provider_wait == 12.5
    # Unset: `orchestrate` gives a networked orchestrator the whole task budget.
    assert Limits(store, 64, 2048).recovery("orchestrator").provider_wait is None
    shown = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "--provider-wait" in shown
    refused = CliRunner().invoke(app, ["serve", "nowhere.yaml", "--provider-wait", "-1"])
    assert refused.exit_code == 2
    assert "--provider-wait" in refused.output
