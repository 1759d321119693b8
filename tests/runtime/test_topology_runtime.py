"""Topologies at run time: the same team completes the same task in every shape, every hop
follows an edge, and a send along a missing edge is refused before any handler runs."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from lamas.agent import Agent
from lamas.errors import AccessDenied, ConfigError
from lamas.protocol.cards import AgentCard, Skill
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.topology import InvalidTopology, StageSpec, TopologySpec
from lamas.protocol.types import Context, Reply
from lamas.runtime.netfile import build, load_spec
from lamas.runtime.network import Network
from lamas.runtime.policy import Rule, RulePolicy
from lamas.runtime.topology import TopologyPolicy, TopologyViolation, run_flow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEAM = ("alpha", "beta", "gamma", "delta")
TASK = Message.of_data({"task": "write a report", "steps": []}, role="user")

HANDLERS = """
from lamas.protocol import Message


def worker(card):
    async def handle(envelope, context):
        data = envelope.message.data
        return Message.of_data({**data, "steps": [*data.get("steps", []), context.agent_id]})

    return handle
"""


class Member:
    """A team member: appends its id to the message's `steps` and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None  # set: the member waits for it before working

    async def __call__(self, envelope: Envelope, context: Context) -> Reply:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        data = envelope.message.data
        return Message.of_data({**data, "steps": [*data["steps"], context.agent_id]})


class Team:
    """The same four agents, wired into a network whose transport enforces one topology."""

    def __init__(self, spec: TopologySpec, agents: tuple[str, ...] = TEAM) -> None:
        self.members = {agent_id: Member() for agent_id in agents}
        self.policy = TopologyPolicy(spec, agents)
        self.network = Network(policy=self.policy)
        for agent_id, member in self.members.items():
            card = AgentCard(
                id=agent_id,
                name=agent_id.title(),
                entity="team",
                skills=(Skill(name="work", description="Do one part of the task."),),
            )
            self.network.add(Agent(card, member))
        self.hops: list[tuple[str, str]] = []
        self.network.transport.observers.append(
            lambda envelope: self.hops.append((envelope.sender, envelope.recipient))
        )


SHAPES: dict[str, tuple[TopologySpec, list[str]]] = {
    # shape -> (spec, the order in which the members must have worked)
    "star": (TopologySpec(kind="star", hub="beta"), ["beta", "alpha", "gamma", "delta"]),
    "ring": (
        TopologySpec(kind="ring", order=("gamma", "alpha", "delta", "beta")),
        ["gamma", "alpha", "delta", "beta"],
    ),
    # partly connected: alpha-beta, alpha-gamma, gamma-delta; no beta-gamma, no alpha-delta
    "graph": (
        TopologySpec(
            kind="graph", edges=(("alpha", "beta"), ("alpha", "gamma"), ("gamma", "delta"))
        ),
        ["alpha", "beta", "gamma", "delta"],  # depth-first from alpha
    ),
    "bus": (
        TopologySpec(
            kind="bus",
            stages=(
                StageSpec(name="research", agents=("delta",)),
                StageSpec(name="draft", agents=("beta",)),
                StageSpec(name="review", agents=("alpha",)),
                StageSpec(name="publish", agents=("gamma",)),
            ),
        ),
        ["delta", "beta", "alpha", "gamma"],
    ),
}


# --- the acceptance: one team, one task, four shapes --------------------------


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_the_same_task_completes_in_every_topology_along_its_edges(shape: str) -> None:
    spec, worked = SHAPES[shape]
    team = Team(spec)

    result = await run_flow(team.network, spec, TASK)

    assert result.data["task"] == "write a report"
    assert result.data["steps"] == worked  # every member's part, in the shape's order
    assert sorted(result.data["steps"]) == sorted(TEAM)
    assert all(member.calls == 1 for member in team.members.values())
    assert len(team.hops) == len(TEAM)  # one hop per member: nothing looped
    off_edge = [hop for hop in team.hops if hop not in team.policy.edges]
    assert off_edge == []
    assert team.hops[0] == ("user", worked[0])


async def test_each_shape_took_the_hops_it_should() -> None:
    expected = {
        "star": [("user", "beta"), ("beta", "alpha"), ("beta", "gamma"), ("beta", "delta")],
        "ring": [("user", "gamma"), ("gamma", "alpha"), ("alpha", "delta"), ("delta", "beta")],
        # alpha relays beta's answer to gamma: the walk returns along the tree as replies
        "graph": [("user", "alpha"), ("alpha", "beta"), ("alpha", "gamma"), ("gamma", "delta")],
        "bus": [("user", "delta"), ("delta", "beta"), ("beta", "alpha"), ("alpha", "gamma")],
    }
    for shape, (spec, _) in SHAPES.items():
        team = Team(spec)
        await run_flow(team.network, spec, TASK)
        assert team.hops == expected[shape], shape


async def test_every_hop_of_a_flow_carries_one_task_id() -> None:
    spec, _ = SHAPES["ring"]
    team = Team(spec)
    seen: list[str | None] = []
    team.network.transport.observers.append(lambda envelope: seen.append(envelope.task_id))
    await run_flow(team.network, spec, TASK, task_id="t-42")
    assert seen == ["t-42"] * len(TEAM)


async def test_a_fully_connected_graph_visits_each_member_once() -> None:
    spec = TopologySpec(kind="graph")
    team = Team(spec)
    result = await run_flow(team.network, spec, TASK, start="gamma")
    assert result.data["steps"] == ["gamma", "alpha", "beta", "delta"]
    assert all(member.calls == 1 for member in team.members.values())


async def test_a_graph_flow_leaves_out_members_the_start_cannot_reach() -> None:
    spec = TopologySpec(kind="graph", edges=(("alpha", "beta"), ("gamma", "delta")))
    team = Team(spec)
    result = await run_flow(team.network, spec, TASK, start="delta")
    assert result.data["steps"] == ["delta", "gamma"]
    assert team.members["alpha"].calls == 0


async def test_a_graph_flow_must_start_at_a_member() -> None:
    spec = TopologySpec(kind="graph", edges=(("alpha", "beta"),))
    team = Team(spec)
    with pytest.raises(InvalidTopology, match="not a member of the graph"):
        await run_flow(team.network, spec, TASK, start="gamma")
    assert team.hops == []


async def test_only_a_graph_flow_takes_a_start() -> None:
    spec, _ = SHAPES["ring"]
    team = Team(spec)
    with pytest.raises(InvalidTopology, match="only a graph flow takes a start"):
        await run_flow(team.network, spec, TASK, start="alpha")


async def test_a_bus_stage_is_served_by_its_least_loaded_agent() -> None:
    spec = TopologySpec(
        kind="bus",
        stages=(
            StageSpec(name="intake", agents=("alpha",)),
            StageSpec(name="draft", agents=("beta", "gamma")),
            StageSpec(name="review", agents=("delta",)),
        ),
    )
    team = Team(spec)
    first = await run_flow(team.network, spec, TASK)
    assert first.data["steps"] == ["alpha", "beta", "delta"]  # a tie: the first listed

    team.members["beta"].gate = asyncio.Event()
    busy = asyncio.create_task(
        team.network.transport.request(
            Envelope(sender="alpha", recipient="beta", skill="work", message=TASK)
        )
    )
    await asyncio.sleep(0)  # beta now holds one request
    second = await run_flow(team.network, spec, TASK)
    assert second.data["steps"] == ["alpha", "gamma", "delta"]
    team.members["beta"].gate.set()
    assert (await busy).data["steps"] == ["beta"]


async def test_a_star_without_hub_has_no_flow() -> None:
    network = Network()
    with pytest.raises(InvalidTopology, match="needs a hub"):
        await run_flow(network, TopologySpec(kind="star"), TASK)


# --- refusals ---------------------------------------------------------------------------


async def test_a_send_along_a_missing_edge_is_refused_before_the_handler_runs() -> None:
    spec, _ = SHAPES["ring"]  # gamma -> alpha -> delta -> beta -> gamma
    team = Team(spec)
    envelope = Envelope(sender="alpha", recipient="gamma", skill="work", message=TASK)
    with pytest.raises(TopologyViolation) as caught:
        await team.network.transport.request(envelope)
    error = caught.value
    assert isinstance(error, AccessDenied)
    assert (error.sender, error.recipient, error.kind) == ("alpha", "gamma", "ring")
    assert error.allowed == ("delta",)
    assert str(error) == (
        "access denied: 'alpha' may not send to 'gamma': the ring topology has no edge "
        "alpha -> gamma; 'alpha' may send only to delta"
    )
    assert team.members["gamma"].calls == 0
    assert team.hops == []  # refused before the transport accepted it


@pytest.mark.parametrize(
    ("shape", "sender", "recipient"),
    [
        ("star", "alpha", "gamma"),  # members talk only through the hub
        ("star", "user", "alpha"),  # the entry goes to the hub
        ("ring", "user", "alpha"),  # the entry goes to the ring's first member
        ("ring", "alpha", "gamma"),  # against the direction of the ring
        ("graph", "beta", "gamma"),  # not neighbours
        ("bus", "beta", "delta"),  # back up the SOP
        ("bus", "delta", "alpha"),  # skipping a stage
    ],
)
async def test_every_shape_refuses_what_it_lacks(shape: str, sender: str, recipient: str) -> None:
    spec, _ = SHAPES[shape]
    team = Team(spec)
    envelope = Envelope(sender=sender, recipient=recipient, skill="work", message=TASK)
    with pytest.raises(TopologyViolation, match=f"the {shape} topology has no edge"):
        await team.network.transport.post(envelope)
    assert team.members[recipient].calls == 0


def test_a_sender_outside_the_topology_may_send_to_no_one() -> None:
    policy = TopologyPolicy(TopologySpec(kind="star", hub="alpha"), TEAM)
    with pytest.raises(TopologyViolation, match="'stranger' may send to no one"):
        policy.check(Envelope(sender="stranger", recipient="alpha", message=TASK))


def test_an_agent_may_send_to_itself() -> None:
    policy = TopologyPolicy(TopologySpec(kind="ring"), TEAM)
    policy.check(Envelope(sender="gamma", recipient="gamma", message=TASK))


def test_open_services_are_reachable_from_anywhere() -> None:
    agents = (*TEAM, "ledger")
    policy = TopologyPolicy(TopologySpec(kind="ring", open_to=("ledger",)), agents)
    for sender in (*TEAM, "user"):
        policy.check(Envelope(sender=sender, recipient="ledger", message=TASK))
    with pytest.raises(TopologyViolation, match="'ledger' may send to no one"):
        policy.check(Envelope(sender="ledger", recipient="alpha", message=TASK))


def test_the_inner_policy_is_asked_after_the_topology() -> None:
    inner = RulePolicy([Rule(sender="beta", recipient="*", skill="work")])
    policy = TopologyPolicy(TopologySpec(kind="star", hub="beta"), TEAM, inner=inner)
    policy.check(Envelope(sender="beta", recipient="alpha", skill="work", message=TASK))
    with pytest.raises(AccessDenied, match="no rule allows skill 'gossip'") as caught:
        policy.check(Envelope(sender="beta", recipient="alpha", skill="gossip", message=TASK))
    assert not isinstance(caught.value, TopologyViolation)
    with pytest.raises(TopologyViolation):  # the shape is asked first
        policy.check(Envelope(sender="alpha", recipient="gamma", skill="work", message=TASK))


def test_a_long_list_of_allowed_recipients_is_cut_short() -> None:
    agents = tuple(f"a{i}" for i in range(15))
    policy = TopologyPolicy(TopologySpec(kind="star", hub="a0"), agents)
    with pytest.raises(TopologyViolation, match=r"'a0' may send only to a1, .*\(4 more\)$"):
        policy.check(Envelope(sender="a0", recipient="a0x", message=TASK))


# --- network files ----------------------------------------------------------------------


@pytest.fixture
def handlers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module name, importable for this test only, with a `worker` handler factory."""
    import sys

    name = f"topology_handlers_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{name}.py").write_text(HANDLERS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def network_file(tmp_path: Path, handlers: str, topology: str, rules: str = "") -> Path:
    agents = "".join(
        f"""
          - card:
              id: {agent_id}
              name: {agent_id.title()}
              entity: team
              skills: [{{name: work, description: Do one part.}}]
            handler: {handlers}:worker
            replicas: {2 if agent_id == "delta" else 1}
        """
        for agent_id in TEAM
    )
    text = f"name: team\n{textwrap.dedent(topology)}\nagents:{textwrap.dedent(agents)}{rules}"
    path = tmp_path / "team.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_built_network_enforces_its_topology(tmp_path: Path, handlers: str) -> None:
    path = network_file(
        tmp_path,
        handlers,
        """
        topology:
          kind: ring
          order: [alpha, beta, delta, gamma]
          centralized: true
        """,
    )
    spec = load_spec(path)
    assert spec.topology.centralized is True
    assert load_spec(path).model_dump() == spec.model_dump()
    network = build(spec)
    policy = network.transport.policy
    assert isinstance(policy, TopologyPolicy)
    assert policy.inner is None  # no rules

    result = await run_flow(network, spec.topology, TASK, replicas=spec.replica_groups())
    assert result.data["steps"] == ["alpha", "beta", "delta-1", "gamma"]
    with pytest.raises(TopologyViolation, match="'beta' may send only to delta-1, delta-2"):
        await network.call("work", Message.of_data({}), sender="beta")  # round robin: alpha


async def test_a_built_network_asks_the_topology_then_the_rules(
    tmp_path: Path, handlers: str
) -> None:
    path = network_file(
        tmp_path,
        handlers,
        "topology: {kind: star, hub: alpha}\n",
        "rules:\n  - {sender: alpha, recipient: beta}\n  - {sender: user, recipient: alpha}\n",
    )
    network = build(load_spec(path))
    policy = network.transport.policy
    assert isinstance(policy, TopologyPolicy)
    assert isinstance(policy.inner, RulePolicy)
    alpha_to = {"beta": None, "gamma": "no rule allows"}
    for recipient, refusal in alpha_to.items():
        envelope = Envelope(sender="alpha", recipient=recipient, skill="work", message=TASK)
        if refusal is None:
            assert (await network.transport.request(envelope)).data["steps"] == [recipient]
        else:
            with pytest.raises(AccessDenied, match=refusal):
                await network.transport.request(envelope)
    beta_to_gamma = Envelope(sender="beta", recipient="gamma", skill="work", message=TASK)
    with pytest.raises(TopologyViolation):
        await network.transport.request(beta_to_gamma)


def test_a_network_file_naming_an_unknown_agent_is_a_config_error(
    tmp_path: Path, handlers: str
) -> None:
    path = network_file(tmp_path, handlers, "topology: {kind: star, hub: omega}\n")
    with pytest.raises(ConfigError) as caught:
        load_spec(path)
    assert str(path) in str(caught.value)
    assert "names agents this network does not have: omega" in str(caught.value)


@pytest.mark.parametrize(
    ("example", "hub", "centralized"),
    [("travel", "orchestrator", False), ("music", "music-orchestrator", True)],
)
def test_the_example_networks_are_enforced_stars(example: str, hub: str, centralized: bool) -> None:
    spec = load_spec(EXAMPLES / example / "network.yaml")
    assert spec.topology.kind == "star"
    assert spec.topology.hub == hub
    assert spec.topology.enforced
    assert spec.topology.centralized is centralized


async def test_a_plain_star_network_builds_without_a_topology_policy(
    tmp_path: Path, handlers: str
) -> None:
    path = network_file(tmp_path, handlers, "topology: star\n")
    network = build(load_spec(path))
    assert network.transport.policy is None
    reply = await network.call("work", Message.of_data({}), sender="user")
    assert reply.data["steps"] == ["alpha"]
