"""`lamas new agent NAME`: the template, which examples/hello is; clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lamas.cli.main import app
from lamas.cli.new import FILES, scaffold
from lamas.errors import ConfigError
from lamas.runtime.netfile import load

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello"


def test_examples_hello_is_the_template_and_stays_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scaffold("forecaster", Path("examples/hello"), entity="meteo")
    for name in FILES:
        assert (tmp_path / "examples/hello" / name).read_text() == (HELLO / name).read_text(), (
            f"examples/hello/{name} differs from `lamas new agent forecaster --entity meteo`"
        )
    lines = sum(len((HELLO / f).read_text().splitlines()) for f in FILES)
    assert lines < 60, f"examples/hello has {lines} lines"


def test_a_new_agent_is_a_network_that_loads_and_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMAS_MODEL", "smollm2-135m")
    result = CliRunner().invoke(
        app, ["new", "agent", "ticket-desk", "--folder", str(tmp_path / "desk")]
    )
    assert result.exit_code == 0, result.output
    spec, network = load(tmp_path / "desk" / "network.yaml", external=["orchestrator"])
    assert [c.id for c in network.cards] == ["ticket-desk"]
    assert network.card("ticket-desk").entity == "ticket-desk"
    assert spec.topology.hub == "orchestrator"


def test_bad_names_and_existing_files_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    for bad in ("Forecaster", "1st", "a b", "x" * 60, "../up"):
        with pytest.raises(ConfigError, match="agent name"):
            scaffold(bad, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    scaffold("one", tmp_path / "here")
    before = (tmp_path / "here" / "agent.py").read_text()
    result = CliRunner().invoke(app, ["new", "agent", "two", "--folder", str(tmp_path / "here")])
    assert result.exit_code == 2
    assert "exists already" in result.output
    assert (tmp_path / "here" / "agent.py").read_text() == before
