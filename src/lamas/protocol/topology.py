"""Topologies: who may send to whom in a network (paper §2.2 and §4.1), as data.

Four shapes, each a set of directed edges `(sender, recipient)` between agent ids:

- star: one hub coordinates; the hub and every other member talk both ways,
  members never talk to each other directly;
- ring: a sequential pipeline; each member hands on to its successor (the last
  to the first), in the ring's `order`;
- graph: members talk to their neighbours, both ways; with no `edges` given
  every member is every other's neighbour (fully connected);
- bus: a fixed SOP; the task moves through named stages in order, and any
  agent of one stage may hand on to any agent of the next.

Only requests and events are envelopes: a reply travels back on the request it
answers, so a ring member answering its predecessor needs no edge of its own.

The spec is data; the agents it names are known only with the network, so
`lay_out` resolves a spec against a network's agent ids (and its replicas) and
computes the edges. Enforcing them is the runtime's job (`lamas.runtime.topology`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from lamas.errors import ConfigError
from lamas.protocol.messages import AGENT_ID_PATTERN, Wire

TopologyKind = Literal["star", "ring", "graph", "bus"]
Edge = tuple[str, str]
"""A directed edge: `(sender, recipient)`."""

DEFAULT_ENTRY = "user"
_SHOWN = 20  # ids listed in an error message, at most


class InvalidTopology(ConfigError, ValueError):
    """A topology is inconsistent in itself or names agents its network does not have.

    Also a `ValueError`, so that a network definition's validation reports it as one
    of its problems (with the file name) instead of crashing.
    """


class StageSpec(Wire):
    """One stage of a bus: its name and the agents able to serve it (any one of them does)."""

    name: str = Field(min_length=1, max_length=128)
    agents: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_repeats(self) -> StageSpec:
        repeated = _repeated(self.agents)
        if repeated:
            raise ValueError(f"stage {self.name!r} lists an agent twice: {', '.join(repeated)}")
        return self


class TopologySpec(Wire):
    """The shape of a network and whether its hub handles user data (paper §2.2, §4.1).

    A plain kind (`"star"`) is accepted where a spec is expected. Each kind uses its own
    fields and refuses the others', so a misplaced field is an error and not ignored.
    """

    kind: TopologyKind = "star"
    hub: str | None = Field(
        default=None,
        description="star: the coordinating agent; without one a star is not enforced",
    )
    order: tuple[str, ...] = Field(
        default=(), description="ring: members in ring order; empty means all, as listed"
    )
    edges: tuple[tuple[str, str], ...] = Field(
        default=(), description="graph: undirected neighbour pairs; empty means fully connected"
    )
    stages: tuple[StageSpec, ...] = Field(
        default=(), description="bus: the SOP's stages in order; empty means one per agent"
    )
    centralized: bool = Field(
        default=False,
        description=(
            "True: the hub handles the user's data itself (the music case, §4.1); "
            "False: it only coordinates and members use private data in their own domain "
            "(the travel case, §4.2)"
        ),
    )
    open_to: tuple[str, ...] = Field(
        default=(),
        description="agents anyone may reach whatever the shape: services beside the task's flow",
    )
    entry: str = Field(
        default=DEFAULT_ENTRY,
        pattern=AGENT_ID_PATTERN,
        description="the sender that submits tasks (the user, or a gateway)",
    )

    # A personal agent holding the user's vault, or a transaction logger that every agent
    # reports to, serves whoever is doing the work; routing those calls through the hub or
    # the ring would make the shape hand private data to agents that don't need it, which
    # is what the decentralized star exists to avoid. Hence `open_to`: reachable by every
    # member and the entry, and never part of a default shape (star spokes, default ring,
    # default graph, default bus).

    @model_validator(mode="before")
    @classmethod
    def _from_kind(cls, data: Any) -> Any:
        return _kind_alone(data)

    @model_validator(mode="after")
    def _consistent(self) -> TopologySpec:
        misplaced = [
            name
            for name, used, owner in (
                ("hub", self.hub is not None, "star"),
                ("order", bool(self.order), "ring"),
                ("edges", bool(self.edges), "graph"),
                ("stages", bool(self.stages), "bus"),
            )
            if used and self.kind != owner
        ]
        if misplaced:
            raise ValueError(
                f"a {self.kind} topology takes no {' or '.join(misplaced)} "
                "(hub is for star, order for ring, edges for graph, stages for bus)"
            )
        problems = []
        if repeated := _repeated(self.order):
            problems.append(f"the ring order lists {', '.join(repeated)} more than once")
        if loops := sorted({a for a, b in self.edges if a == b}):
            problems.append(f"an edge must join two agents, not one to itself: {', '.join(loops)}")
        if repeated := _repeated([s.name for s in self.stages]):
            problems.append(f"stage names must be unique; repeated: {', '.join(repeated)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def enforced(self) -> bool:
        """Whether the shape constrains anything: a star needs a hub to say who may talk."""
        return self.kind != "star" or self.hub is not None

    def __str__(self) -> str:
        return self.kind


def _kind_alone(data: Any) -> Any:
    """`"ring"` means `{"kind": "ring"}`: network files say `topology: star` when that is all."""
    return {"kind": data} if isinstance(data, str) else data


TopologyField = Annotated[
    TopologySpec,
    # For the JSON Schema: a field of this type accepts a bare kind as well as a mapping.
    BeforeValidator(_kind_alone, json_schema_input_type=TopologyKind | TopologySpec),
]
"""A `TopologySpec` field that also takes a bare kind (`topology: star`)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """A topology laid over the agents of one network.

    Names are what the spec says: an agent id, or the id of a replicated agent, which
    stands for all its replicas (`groups` maps each name to the ids serving it). `links`
    are the shape's own hand-offs between names (the entry included), without `open_to`;
    `edges` are every allowed `(sender, recipient)` between ids, `open_to` included.
    """

    kind: TopologyKind
    entry: str
    groups: Mapping[str, tuple[str, ...]]
    links: Mapping[str, tuple[str, ...]]
    hub: str | None
    order: tuple[str, ...]
    stages: tuple[tuple[str, tuple[str, ...]], ...]
    members: tuple[str, ...]
    edges: frozenset[Edge]

    def recipients(self, sender: str) -> tuple[str, ...]:
        """The ids `sender` may send to, sorted."""
        return tuple(sorted(b for a, b in self.edges if a == sender))


def lay_out(
    spec: TopologySpec,
    agent_ids: Iterable[str],
    *,
    replicas: Mapping[str, Iterable[str]] | None = None,
) -> Layout:
    """Resolve `spec` against a network's agents; `InvalidTopology` names whatever is unknown.

    `replicas` maps the name of a replicated agent to its replicas' ids (`x` -> `x-1`,
    `x-2`): a spec naming `x` means any of them, as an access rule naming `x` does.
    """
    ids = tuple(agent_ids)
    groups = _groups(ids, replicas or {})
    names = tuple(groups)
    unknown = sorted({n for n in _named(spec) if n not in groups})
    if unknown:
        raise InvalidTopology(
            f"the {spec.kind} topology names agents this network does not have: "
            f"{', '.join(unknown)} (its agents: {_listed(names)})"
        )
    shaped = tuple(n for n in names if n not in spec.open_to)  # the default members
    links: dict[str, dict[str, None]] = {}  # dicts as ordered sets

    def link(sender: str, recipients: Iterable[str]) -> None:
        targets = links.setdefault(sender, {})
        targets.update((r, None) for r in recipients if r != sender)

    hub: str | None = None
    order: tuple[str, ...] = ()
    stages: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if spec.kind == "star":
        if spec.hub is None:
            raise InvalidTopology(
                "a star topology needs a hub to be enforced; name one with `hub: <agent id>`"
            )
        hub = spec.hub
        spokes = [n for n in shaped if n != hub]
        link(spec.entry, [hub])
        link(hub, spokes)
        for spoke in spokes:
            link(spoke, [hub])
    elif spec.kind == "ring":
        order = spec.order or shaped
        if order:
            link(spec.entry, [order[0]])
        if len(order) > 1:
            for index, name in enumerate(order):
                link(name, [order[(index + 1) % len(order)]])
    elif spec.kind == "graph":
        # A graph has no privileged door: the entry may hand the task to any member,
        # otherwise the start would be a hub and the graph a star with extra edges.
        # With edges given, the graph is the agents they name (others stay outside it).
        if spec.edges:
            pairs = spec.edges
            members = _unique(n for pair in spec.edges for n in pair)
        else:
            pairs = tuple((a, b) for i, a in enumerate(shaped) for b in shaped[i + 1 :])
            members = shaped
        link(spec.entry, members)
        for name in members:
            links.setdefault(name, {})
        for a, b in pairs:
            link(a, [b])
            link(b, [a])
    else:  # bus
        stages = tuple((s.name, s.agents) for s in spec.stages) or tuple((n, (n,)) for n in shaped)
        if stages:
            link(spec.entry, stages[0][1])
        for (_, serving), (_, following) in pairwise(stages):
            for name in serving:
                link(name, following)

    edges = {
        (a, b)
        for sender, recipients in links.items()
        for name in recipients
        for a in groups.get(sender, (sender,))
        for b in groups[name]
        if a != b
    }
    # Everyone (every agent and the entry) may reach the open services.
    edges.update(
        (a, b)
        for a in (*ids, spec.entry)
        for service in spec.open_to
        for b in groups[service]
        if a != b
    )
    return Layout(
        kind=spec.kind,
        entry=spec.entry,
        groups=MappingProxyType(groups),
        links=MappingProxyType({k: tuple(v) for k, v in links.items()}),
        hub=hub,
        order=order,
        stages=stages,
        members=ids,
        edges=frozenset(edges),
    )


def edges_for(
    spec: TopologySpec,
    agent_ids: Iterable[str],
    *,
    replicas: Mapping[str, Iterable[str]] | None = None,
) -> frozenset[Edge]:
    """Every `(sender, recipient)` that `spec` allows among `agent_ids` (see `lay_out`)."""
    return lay_out(spec, agent_ids, replicas=replicas).edges


# --- helpers ----------------------------------------------------------------


def _groups(
    ids: tuple[str, ...], replicas: Mapping[str, Iterable[str]]
) -> dict[str, tuple[str, ...]]:
    """Each name (in the order of its first id) and the ids serving it."""
    of_replica = {rid: name for name, rids in replicas.items() for rid in rids}
    strays = sorted(set(of_replica) - set(ids))
    if strays:
        raise InvalidTopology(f"replica ids that are not agents of the network: {_listed(strays)}")
    groups: dict[str, list[str]] = {}
    for agent_id in ids:
        groups.setdefault(of_replica.get(agent_id, agent_id), []).append(agent_id)
    return {name: tuple(members) for name, members in groups.items()}


def _named(spec: TopologySpec) -> list[str]:
    names = [*spec.order, *(n for pair in spec.edges for n in pair), *spec.open_to]
    names.extend(a for stage in spec.stages for a in stage.agents)
    if spec.hub is not None:
        names.append(spec.hub)
    return names


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _repeated(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for item in items:
        (repeated if item in seen else seen).add(item)
    return sorted(repeated)


def _listed(ids: Iterable[str]) -> str:
    shown = list(ids)
    more = f", ... ({len(shown) - _SHOWN} more)" if len(shown) > _SHOWN else ""
    return ", ".join(shown[:_SHOWN]) + more or "none"
