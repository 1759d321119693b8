"""Network files: loading and validating YAML definitions, and building a runnable Network."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lamas.errors import AccessDenied, ConfigError
from lamas.protocol import Envelope, Message
from lamas.protocol.network import NetworkSpec
from lamas.runtime import Network, RulePolicy
from lamas.runtime.netfile import build, load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

HANDLERS = """
from lamas.protocol import Message


def echo(card):
    async def handle(envelope, context):
        return Message.of_text(f"{context.agent_id} got {envelope.message.text}")

    return handle


NOT_A_FACTORY = 1
"""


def write(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def handlers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module name, importable for this test only, with an `echo` handler factory."""
    import sys

    name = f"netfile_handlers_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{name}.py").write_text(HANDLERS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def agent_yaml(
    agent_id: str, handler: str | None = None, replicas: int = 1, skill: str = "do"
) -> str:
    lines = [
        "  - card:",
        f"      id: {agent_id}",
        f"      name: {agent_id.title()}",
        "      entity: tests",
        "      skills:",
        f"        - {{name: {skill}, description: does it}}",
    ]
    if handler:
        lines.append(f"    handler: {handler}")
    if replicas != 1:
        lines.append(f"    replicas: {replicas}")
    return "\n".join(lines) + "\n"


# --- load_spec --------------------------------------------------------------


def test_load_travel_example() -> None:
    spec = load_spec(EXAMPLES / "travel" / "network.yaml")
    assert isinstance(spec, NetworkSpec)
    assert spec.name == "travel"
    assert spec.topology.kind == "star"
    assert spec.topology.enforced
    assert spec.topology.hub == "orchestrator"
    assert not spec.topology.centralized
    assert [a.card.id for a in spec.agents] == [
        "orchestrator",
        "personal",
        "railgo",
        "swiftrail",
        "staywell",
        "navigator",
        "logger",
    ]
    personal = spec.agents[1].card
    assert "passport_number" in personal.vault_fields
    assert set(personal.vault_fields) == {
        "name",
        "passport_number",
        "payment_card",
        "home_address",
        "preferences",
    }
    # the two competing ticket vendors offer the same skills at different prices
    railgo, swiftrail = spec.agents[2].card, spec.agents[3].card
    assert [s.name for s in railgo.skills] == [s.name for s in swiftrail.skills]
    assert railgo.price("ticket.book") != swiftrail.price("ticket.book")
    assert spec.rules
    assert [a.card.id for a in spec.agents if a.handler is None] == ["orchestrator"]


def test_load_music_example() -> None:
    spec = load_spec(str(EXAMPLES / "music" / "network.yaml"))
    assert spec.name == "music"
    assert [a.card.id for a in spec.agents] == ["music-orchestrator", "personal", "songs"]
    assert spec.topology.centralized
    assert "listening_history" in spec.agents[1].card.vault_fields


def test_a_json_file_loads_too(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text(
        '{"name": "j", "agents": [{"card": {"id": "a", "name": "A", "entity": "e"}}]}',
        encoding="utf-8",
    )
    assert [a.card.id for a in load_spec(path).agents] == ["a"]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match="cannot read network file") as raised:
        load_spec(missing)
    assert str(missing) in str(raised.value)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "name: [unclosed\nagents: {\n")
    with pytest.raises(ConfigError, match="is not valid YAML") as raised:
        load_spec(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="must hold a mapping") as raised:
        load_spec(path)
    assert str(path) in str(raised.value)


def test_duplicate_agent_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "name: dup\nagents:\n" + agent_yaml("twin") + agent_yaml("twin"))
    with pytest.raises(ConfigError, match="must be unique; repeated: twin") as raised:
        load_spec(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    ("card", "problem"),
    [
        ("{id: 'bad id!', name: X, entity: e}", "id"),
        ("{id: x, name: X}", "entity"),
        ("{id: x, name: X, entity: e, colour: red}", "colour"),
        (
            "{id: x, name: X, entity: e, skills: [{name: s, description: d}],"
            " prices: [{skill: other, amount: '1'}]}",
            "other",
        ),
        (
            "{id: x, name: X, entity: e, skills: [{name: s, description: d,"
            " input_schema: {type: 12}}]}",
            "not a valid JSON Schema",
        ),
    ],
)
def test_a_bad_card(tmp_path: Path, card: str, problem: str) -> None:
    path = write(tmp_path, f"name: bad\nagents:\n  - card: {card}\n")
    with pytest.raises(ConfigError) as raised:
        load_spec(path)
    message = str(raised.value)
    assert str(path) in message
    assert "malformed network definition" in message
    assert problem in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: x\nagents: []\n", "agents"),
        ("agents:\n" + agent_yaml("a"), "name"),
        ("name: x\ntopology: mesh\nagents:\n" + agent_yaml("a"), "topology"),
        ("name: x\nagents:\n" + agent_yaml("a", handler="no-colon"), "handler"),
        ("name: x\nagents:\n" + agent_yaml("a", replicas=0), "replicas"),
    ],
)
def test_a_bad_network(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_spec(path)
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\nagents: []\n".encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        load_spec(path)
    assert str(path) in str(raised.value)


# --- build ------------------------------------------------------------------


async def test_build_registers_agents_with_their_handlers(tmp_path: Path, handlers: str) -> None:
    path = write(
        tmp_path,
        "name: demo\nagents:\n"
        + agent_yaml("front", f"{handlers}:echo", skill="front.ask")
        + agent_yaml("worker", f"{handlers}:echo", replicas=2, skill="work.do"),
    )
    network = build(load_spec(path))
    assert isinstance(network, Network)
    assert [c.id for c in network.cards] == ["front", "worker-1", "worker-2"]
    assert network.card("worker-2").name == "Worker"
    assert [c.id for c in network.find("work.do")] == ["worker-1", "worker-2"]
    assert network.transport.policy is None  # no rules: everything is allowed

    replies = [
        await network.call("work.do", Message.of_text("job"), sender="front") for _ in range(3)
    ]
    assert [r.text for r in replies] == [
        "worker-1 got job",
        "worker-2 got job",
        "worker-1 got job",
    ]
    front = await network.call("front.ask", Message.of_text("q"), sender="user")
    assert front.text == "front got q"


async def test_rules_become_a_deny_by_default_policy(tmp_path: Path, handlers: str) -> None:
    path = write(
        tmp_path,
        "name: ruled\nagents:\n"
        + agent_yaml("hub", f"{handlers}:echo", skill="hub.ask")
        + agent_yaml("spoke", f"{handlers}:echo", skill="spoke.do")
        + "rules:\n"
        + "  - {sender: hub, recipient: '*'}\n"
        + "  - {sender: '*', recipient: hub, skill: hub.ask}\n",
    )
    network = build(load_spec(path))
    policy = network.transport.policy
    assert isinstance(policy, RulePolicy)
    assert len(policy.rules) == 2

    allowed = await network.call("spoke.do", Message.of_text("x"), sender="hub")
    assert allowed.text == "spoke got x"
    asked = await network.call("hub.ask", Message.of_text("y"), sender="spoke")
    assert asked.text == "hub got y"
    with pytest.raises(AccessDenied, match="'user' may not send to 'spoke'"):
        await network.call("spoke.do", Message.of_text("z"), sender="user")
    wrong_skill = Envelope(
        sender="spoke", recipient="hub", skill="hub.other", message=Message.of_text("w")
    )
    with pytest.raises(AccessDenied, match=r"no rule allows skill 'hub\.other'"):
        await network.transport.request(wrong_skill)


async def test_rules_naming_an_agent_cover_its_replicas(tmp_path: Path, handlers: str) -> None:
    path = write(
        tmp_path,
        "name: replicated\nagents:\n"
        + agent_yaml("worker", f"{handlers}:echo", replicas=2, skill="work.do")
        + "rules:\n"
        + "  - {sender: boss, recipient: worker}\n",
    )
    network = build(load_spec(path))
    reply = await network.call("work.do", Message.of_text("job"), sender="boss")
    assert reply.text == "worker-1 got job"


def test_build_without_a_handler_is_a_config_error() -> None:
    spec = load_spec(EXAMPLES / "travel" / "network.yaml")
    with pytest.raises(ConfigError, match="agent 'orchestrator' of 'travel' names no handler"):
        build(spec)


def test_build_with_an_unimportable_module(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nagents:\n" + agent_yaml("a", "no_such_module_xyz:echo"))
    with pytest.raises(ConfigError, match="cannot import handler module 'no_such_module_xyz'"):
        build(load_spec(path))


def test_build_with_a_missing_attribute(tmp_path: Path, handlers: str) -> None:
    path = write(tmp_path, "name: x\nagents:\n" + agent_yaml("a", f"{handlers}:absent"))
    with pytest.raises(ConfigError, match=f"module '{handlers}' has no 'absent'"):
        build(load_spec(path))
