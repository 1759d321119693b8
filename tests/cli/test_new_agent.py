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


def test_hostile_entities_folders_and_planted_links_are_refused(tmp_path: Path) -> None:
    """What lands in the Python and YAML files cannot become code, and a file planted
    where the template goes (a link to one of the user's files) is never written through."""
    for bad in ('x", model=None) or __import__("os").system("id") #', "a\nb", "../x", "A B"):
        with pytest.raises(ConfigError, match="entity"):
            scaffold("one", tmp_path / "bad", entity=bad)
    assert not (tmp_path / "bad").exists()
    # A folder whose name would end the docstring is written as FOLDER in it.
    odd = tmp_path / 'x"""; import os #'
    scaffold("two", odd)
    assert '"""; import os' not in (odd / "agent.py").read_text()
    compile((odd / "agent.py").read_text(), "agent.py", "exec")
    # A dangling link where agent.py goes: refused, its target never created.
    victim = tmp_path / "victim.txt"
    (tmp_path / "trap").mkdir()
    (tmp_path / "trap" / "agent.py").symlink_to(victim)
    with pytest.raises(ConfigError, match="exists already"):
        scaffold("three", tmp_path / "trap")
    assert not victim.exists()
    assert not (tmp_path / "trap" / "network.yaml").exists()
