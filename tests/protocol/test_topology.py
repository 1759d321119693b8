"""Topology specs: validation, the edges of each shape, and network definitions carrying them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lamas.errors import ConfigError, MalformedMessage
from lamas.protocol.network import NetworkSpec
from lamas.protocol.topology import (
    InvalidTopology,
    StageSpec,
    TopologySpec,
    edges_for,
    lay_out,
)

TEAM = ("alpha", "beta", "gamma", "delta")


def both_ways(*pairs: tuple[str, str]) -> set[tuple[str, str]]:
    return {*pairs, *((b, a) for a, b in pairs)}


def from_user(*ids: str) -> set[tuple[str, str]]:
    return {("user", i) for i in ids}


def network(topology: Any, *agents: str | tuple[str, int]) -> dict[str, Any]:
    listed = []
    for agent in agents or TEAM:
        agent_id, replicas = agent if isinstance(agent, tuple) else (agent, 1)
        card = {"id": agent_id, "name": agent_id.title(), "entity": "tests"}
        listed.append({"card": card, "replicas": replicas})
    return {"name": "team", "topology": topology, "agents": listed}


# --- the spec itself ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["star", "ring", "graph", "bus"])
def test_a_bare_kind_is_a_spec(kind: str) -> None:
    spec = TopologySpec.model_validate(kind)
    assert spec == TopologySpec.model_validate({"kind": kind})
    assert str(spec) == kind
    assert spec.entry == "user"
    assert spec.centralized is False  # privacy by default: the hub coordinates only


def test_only_a_star_without_hub_is_unenforced() -> None:
    assert not TopologySpec(kind="star").enforced
    assert TopologySpec(kind="star", hub="alpha").enforced
    for kind in ("ring", "graph", "bus"):
        assert TopologySpec.model_validate(kind).enforced


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"kind": "ring", "hub": "a"}, "a ring topology takes no hub"),
        ({"kind": "star", "hub": "a", "order": ["a", "b"]}, "a star topology takes no order"),
        ({"kind": "bus", "edges": [["a", "b"]]}, "a bus topology takes no edges"),
        ({"kind": "graph", "stages": [{"name": "s", "agents": ["a"]}]}, "takes no stages"),
        ({"kind": "ring", "order": ["a", "b", "a"]}, "the ring order lists a more than once"),
        ({"kind": "graph", "edges": [["a", "a"]]}, "not one to itself: a"),
        (
            {"kind": "bus", "stages": [{"name": "s", "agents": ["a"]}] * 2},
            "stage names must be unique; repeated: s",
        ),
        ({"kind": "bus", "stages": [{"name": "s", "agents": ["a", "a"]}]}, "lists an agent twice"),
        ({"kind": "bus", "stages": [{"name": "s", "agents": []}]}, "agents"),
        ({"kind": "mesh"}, "kind"),
        ({"kind": "star", "entry": "not an id!"}, "entry"),
        ({"kind": "star", "colour": "red"}, "colour"),
    ],
)
def test_an_inconsistent_spec_is_refused(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TopologySpec.model_validate(data)
    assert problem in str(caught.value)


def test_invalid_topology_is_a_config_error_and_a_value_error() -> None:
    # ConfigError for callers; ValueError so that a network definition reports it as a problem.
    assert issubclass(InvalidTopology, ConfigError)
    assert issubclass(InvalidTopology, ValueError)


# --- edges of each shape -----------------------------------------------------


def test_star_edges_join_the_hub_and_each_member() -> None:
    edges = edges_for(TopologySpec(kind="star", hub="beta"), TEAM)
    assert edges == both_ways(("beta", "alpha"), ("beta", "gamma"), ("beta", "delta")) | from_user(
        "beta"
    )


def test_ring_edges_go_to_the_successor_and_wrap() -> None:
    spec = TopologySpec(kind="ring", order=("gamma", "alpha", "delta", "beta"))
    assert edges_for(spec, TEAM) == {
        ("gamma", "alpha"),
        ("alpha", "delta"),
        ("delta", "beta"),
        ("beta", "gamma"),
        ("user", "gamma"),
    }


def test_a_ring_without_order_follows_the_agents_as_listed() -> None:
    layout = lay_out(TopologySpec(kind="ring"), TEAM)
    assert layout.order == TEAM
    assert ("delta", "alpha") in layout.edges
    assert ("alpha", "gamma") not in layout.edges


def test_a_ring_may_leave_members_out() -> None:
    edges = edges_for(TopologySpec(kind="ring", order=("alpha", "beta")), TEAM)
    assert edges == {("alpha", "beta"), ("beta", "alpha"), ("user", "alpha")}


def test_a_graph_without_edges_is_fully_connected() -> None:
    edges = edges_for(TopologySpec(kind="graph"), TEAM)
    every_pair = {(a, b) for a in TEAM for b in TEAM if a != b}
    assert edges == every_pair | from_user(*TEAM)


def test_a_partly_connected_graph_has_its_neighbours_both_ways() -> None:
    spec = TopologySpec(
        kind="graph", edges=(("alpha", "beta"), ("alpha", "gamma"), ("gamma", "delta"))
    )
    layout = lay_out(spec, TEAM)
    # the entry may hand the task to any member: a graph has no privileged door
    assert layout.edges == both_ways(
        ("alpha", "beta"), ("alpha", "gamma"), ("gamma", "delta")
    ) | from_user(*TEAM)
    assert layout.links["alpha"] == ("beta", "gamma")
    assert layout.links["delta"] == ("gamma",)


def test_graph_members_named_by_no_edge_stay_outside() -> None:
    edges = edges_for(TopologySpec(kind="graph", edges=(("alpha", "beta"),)), TEAM)
    assert not any("gamma" in edge or "delta" in edge for edge in edges)


def test_bus_edges_join_each_stage_to_the_next() -> None:
    spec = TopologySpec(
        kind="bus",
        stages=(
            StageSpec(name="intake", agents=("alpha",)),
            StageSpec(name="draft", agents=("beta", "gamma")),
            StageSpec(name="review", agents=("delta",)),
        ),
    )
    layout = lay_out(spec, TEAM)
    assert layout.edges == {
        ("user", "alpha"),
        ("alpha", "beta"),
        ("alpha", "gamma"),
        ("beta", "delta"),
        ("gamma", "delta"),
    }
    assert layout.stages == (
        ("intake", ("alpha",)),
        ("draft", ("beta", "gamma")),
        ("review", ("delta",)),
    )


def test_a_bus_without_stages_has_one_stage_per_agent() -> None:
    layout = lay_out(TopologySpec(kind="bus"), TEAM)
    assert [name for name, _ in layout.stages] == list(TEAM)
    assert ("delta", "alpha") not in layout.edges  # a bus, unlike a ring, does not wrap


def test_the_entry_is_configurable() -> None:
    spec = TopologySpec(kind="ring", order=("alpha", "beta"), entry="gateway")
    assert edges_for(spec, TEAM) == {("alpha", "beta"), ("beta", "alpha"), ("gateway", "alpha")}


def test_open_services_are_reachable_by_everyone_and_outside_the_shape() -> None:
    agents = (*TEAM, "personal")
    star = lay_out(TopologySpec(kind="star", hub="alpha", open_to=("personal",)), agents)
    assert {(a, "personal") for a in (*TEAM, "user")} <= star.edges
    assert ("personal", "alpha") not in star.edges  # a service is no spoke of the star
    assert star.links["alpha"] == ("beta", "gamma", "delta")
    ring = lay_out(TopologySpec(kind="ring", open_to=("personal",)), agents)
    assert ring.order == TEAM
    assert ("delta", "alpha") in ring.edges


def test_a_name_of_a_replicated_agent_means_all_its_replicas() -> None:
    agents = ("front", "worker-1", "worker-2")
    spec = TopologySpec(kind="ring", order=("front", "worker"))
    layout = lay_out(spec, agents, replicas={"worker": ("worker-1", "worker-2")})
    assert layout.groups["worker"] == ("worker-1", "worker-2")
    assert layout.edges == {
        ("user", "front"),
        ("front", "worker-1"),
        ("front", "worker-2"),
        ("worker-1", "front"),
        ("worker-2", "front"),
    }


def test_recipients_lists_what_a_sender_may_reach() -> None:
    layout = lay_out(TopologySpec(kind="star", hub="beta"), TEAM)
    assert layout.recipients("beta") == ("alpha", "delta", "gamma")
    assert layout.recipients("alpha") == ("beta",)
    assert layout.recipients("stranger") == ()


# --- specs that don't fit their agents ---------------------------------------


@pytest.mark.parametrize(
    ("spec", "unknown"),
    [
        (TopologySpec(kind="star", hub="omega"), "omega"),
        (TopologySpec(kind="ring", order=("alpha", "zeta", "beta")), "zeta"),
        (TopologySpec(kind="graph", edges=(("alpha", "eta"),)), "eta"),
        (
            TopologySpec(
                kind="bus",
                stages=(
                    StageSpec(name="one", agents=("alpha",)),
                    StageSpec(name="two", agents=("beta", "theta")),
                ),
            ),
            "theta",
        ),
        (TopologySpec(kind="graph", open_to=("iota",)), "iota"),
    ],
)
def test_unknown_agents_are_named(spec: TopologySpec, unknown: str) -> None:
    with pytest.raises(InvalidTopology) as caught:
        edges_for(spec, TEAM)
    message = str(caught.value)
    assert f"the {spec.kind} topology names agents this network does not have: {unknown}" in (
        message
    )
    assert "its agents: alpha, beta, gamma, delta" in message


def test_a_star_without_hub_cannot_be_laid_out() -> None:
    with pytest.raises(InvalidTopology, match="needs a hub to be enforced"):
        lay_out(TopologySpec(kind="star"), TEAM)


def test_replicas_must_be_agents() -> None:
    with pytest.raises(InvalidTopology, match="replica ids that are not agents"):
        lay_out(TopologySpec(kind="graph"), TEAM, replicas={"alpha": ("alpha-1",)})


# --- in a network definition -------------------------------------------------


def test_a_network_takes_a_bare_kind_or_a_mapping() -> None:
    assert NetworkSpec.parse(network("ring")).topology == TopologySpec(kind="ring")
    default = NetworkSpec.parse({k: v for k, v in network("x").items() if k != "topology"})
    assert default.topology == TopologySpec(kind="star")
    spec = NetworkSpec.parse(network({"kind": "star", "hub": "alpha", "centralized": True}))
    assert spec.topology.hub == "alpha"
    assert spec.topology.centralized is True


def test_centralized_round_trips_through_json() -> None:
    for centralized in (True, False):
        spec = NetworkSpec.parse(
            network({"kind": "star", "hub": "alpha", "centralized": centralized})
        )
        again = NetworkSpec.parse(spec.model_dump_json())
        assert again == spec
        assert again.topology.centralized is centralized


def test_a_network_refuses_a_topology_naming_unknown_agents() -> None:
    with pytest.raises(MalformedMessage) as caught:
        NetworkSpec.parse(network({"kind": "star", "hub": "omega"}))
    assert "the star topology names agents this network does not have: omega" in str(caught.value)


def test_a_network_refuses_a_misplaced_topology_field() -> None:
    with pytest.raises(MalformedMessage, match="topology") as caught:
        NetworkSpec.parse(network({"kind": "ring", "hub": "alpha"}))
    assert "a ring topology takes no hub" in str(caught.value)


def test_a_network_topology_may_name_a_replicated_agent() -> None:
    spec = NetworkSpec.parse(network({"kind": "star", "hub": "hub"}, "hub", ("worker", 3)))
    assert spec.agent_ids() == ("hub", "worker-1", "worker-2", "worker-3")
    assert spec.replica_groups() == {"worker": ("worker-1", "worker-2", "worker-3")}
    with pytest.raises(MalformedMessage, match="does not have: worker-4"):
        NetworkSpec.parse(network({"kind": "star", "hub": "worker-4"}, "hub", ("worker", 3)))


def test_the_json_schema_admits_a_bare_kind() -> None:
    schema = NetworkSpec.model_json_schema()["properties"]["topology"]
    assert {"enum": ["star", "ring", "graph", "bus"], "type": "string"} in schema["anyOf"]
