"""The `lamas` command line, run in-process with typer's CliRunner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lamas.cli.main import app
from lamas.protocol.schema import WIRE_TYPES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRAVEL = str(EXAMPLES / "travel" / "network.yaml")
MUSIC = str(EXAMPLES / "music" / "network.yaml")


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def flat(text: str) -> str:
    """Rich wraps long lines; compare with whitespace collapsed."""
    return " ".join(text.split())


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.exit_code == 0
    listed = re.findall(r"^\W*([a-z]+)\s{2,}\S", result.stdout, re.MULTILINE)
    assert {"schema", "agents", "chat", "models"} <= set(listed)


def test_no_arguments_shows_help() -> None:
    result = run()
    assert "Usage: lamas" in flat(result.output)
    assert "agents" in result.output


def test_schema_prints_every_wire_type() -> None:
    result = run("schema")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (
        set(data["types"])
        == set(WIRE_TYPES)
        == {
            "envelope",
            "message",
            "agent-card",
            "task",
            "plan",
            "ledger-entry",
            "network",
        }
    )
    assert data["$schema"].endswith("2020-12/schema")


@pytest.mark.parametrize("wire_type", sorted(WIRE_TYPES))
def test_schema_of_one_type_is_json(wire_type: str) -> None:
    result = run("schema", wire_type)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert "properties" in schema


def test_schema_envelope_has_priority() -> None:
    result = run("schema", "envelope")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "priority" in schema["properties"]
    assert schema["properties"]["priority"]["maximum"] == 9


def test_schema_of_an_unknown_type_exits_2() -> None:
    result = run("schema", "nope")
    assert result.exit_code == 2
    assert result.stdout == ""
    message = flat(result.stderr)
    assert "error:" in message
    assert "'nope'" in message
    assert "envelope" in message


def test_agents_lists_the_travel_agents() -> None:
    result = run("agents", TRAVEL)
    assert result.exit_code == 0, result.output
    for agent_id in ("personal", "orchestrator", "railgo", "swiftrail", "staywell", "navigator"):
        assert agent_id in result.stdout
    assert "travel (star topology, 7 agents)" in result.stdout
    assert "passport_number" in result.stdout


def test_agents_json_parses() -> None:
    result = run("agents", MUSIC, "--json")
    assert result.exit_code == 0, result.output
    cards = json.loads(result.stdout)
    assert [c["id"] for c in cards] == ["music-orchestrator", "personal", "songs"]
    assert cards[2]["prices"][0]["skill"] == "song.search"


def test_agents_shows_replicas(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(
        "name: r\nagents:\n  - card: {id: worker, name: W, entity: e}\n    replicas: 3\n",
        encoding="utf-8",
    )
    result = run("agents", str(path))
    assert result.exit_code == 0, result.output
    assert "worker x3" in result.stdout


def test_agents_of_a_missing_file_exits_2() -> None:
    result = run("agents", "/nonexistent.yaml")
    assert result.exit_code == 2
    assert "/nonexistent.yaml" in flat(result.stderr)


def test_agents_of_a_bad_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("- not\n- a mapping\n", encoding="utf-8")
    result = run("agents", str(path))
    assert result.exit_code == 2
    assert "must hold a mapping" in flat(result.stderr)


def test_models_list_shows_both_models() -> None:
    result = run("models", "list")
    assert result.exit_code == 0, result.output
    assert "smollm2-135m" in result.stdout
    assert "qwen2.5-coder-1.5b" in result.stdout


def test_models_path_of_an_unknown_model_exits_2() -> None:
    result = run("models", "path", "nonesuch")
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert "'nonesuch'" in message
    assert "smollm2-135m" in message
    assert "qwen2.5-coder-1.5b" in message


def test_models_path_of_the_test_model() -> None:
    result = run("models", "path", "smollm2-135m")
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path.suffix == ".gguf"
    assert path.is_file()


def test_chat_refuses_zero_steps() -> None:
    result = run("chat", "--message", "hi", "--max-steps", "0")
    assert result.exit_code == 2
    assert "max-steps" in flat(result.output)


@pytest.mark.model
def test_chat_answers_once_on_the_test_model() -> None:
    result = run(
        "chat", "--model", "smollm2-135m", "--message", "What is 2 + 2?", "--max-steps", "2"
    )
    assert result.exit_code == 0, result.output
    assert "answer:" in result.stdout
    assert "model calls" in result.stdout


async def test_chat_agent_remembers_earlier_turns() -> None:
    """The second question reaches the model with the first question and answer as history."""
    from lamas.cli.chat import assistant
    from lamas.llm import ScriptedModel
    from lamas.protocol import Envelope, Message
    from lamas.runtime import Network

    model = ScriptedModel(
        [
            {"thought": "easy", "action": {"tool": "final_answer", "answer": "Lyon is in France."}},
            {"thought": "recall", "action": {"tool": "final_answer", "answer": "France."}},
        ]
    )
    agent, traces = assistant(model)
    network = Network([agent])
    for question in ("Where is Lyon?", "Which country did I ask about?"):
        await network.transport.request(
            Envelope(sender="user", recipient=agent.id, message=Message.of_text(question))
        )
    second_call_messages = [m.content for m in model.calls[1][0]]
    assert "Where is Lyon?" in second_call_messages
    assert "Lyon is in France." in second_call_messages
    assert len(traces) == 2
