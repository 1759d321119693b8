"""`lamas keys`, `lamas serve`, `lamas registry`, `lamas ask`: help, keys, clear errors.
(Serving for real is tests/interop/test_travel_networked.py, which runs these commands.)"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lamas.cli.main import app

NETWORK = Path(__file__).resolve().parents[2] / "examples" / "travel" / "network.yaml"


def test_every_networked_command_has_help() -> None:
    for command in ("serve", "registry", "keys", "ask"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_keys_makes_a_key_per_agent_and_entity_and_keeps_existing_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["keys", str(NETWORK), str(tmp_path)])
    assert result.exit_code == 0, result.output
    agents = sorted(p.stem for p in (tmp_path / "agents").glob("*.key"))
    assert agents == sorted(
        [
            "orchestrator",
            "personal",
            "railgo",
            "swiftrail",
            "staywell",
            "navigator",
            "logger",
            "user",
        ]
    )
    assert (tmp_path / "entities" / "platform.pub").is_file()
    before = (tmp_path / "agents" / "railgo.key").read_bytes()
    assert CliRunner().invoke(app, ["keys", str(NETWORK), str(tmp_path)]).exit_code == 0
    assert (tmp_path / "agents" / "railgo.key").read_bytes() == before


def test_serving_an_agent_the_network_lacks_or_without_keys_is_a_clear_error(
    tmp_path: Path,
) -> None:
    CliRunner().invoke(app, ["keys", str(NETWORK), str(tmp_path)])
    result = CliRunner().invoke(
        app, ["serve", str(NETWORK), "--agent", "nobody", "--keys", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "has no agent 'nobody'" in result.output
    result = CliRunner().invoke(
        app, ["serve", str(NETWORK), "--agent", "railgo", "--keys", str(tmp_path / "none")]
    )
    assert result.exit_code == 2
    assert "no key file" in result.output
