"""The network as the dashboard draws it: cards and topology from network files, traffic on
each edge from the ledger's messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lamas.errors import LamasError
from lamas.protocol.cards import AgentCard
from lamas.protocol.topology import edges_for
from lamas.runtime.netfile import load_spec


@dataclass(slots=True)
class NetworkPart:
    """One network file: its name, its agents' cards, its topology's edges and hub. Two
    networks may both have an agent called `personal`: they are two agents, one per part."""

    name: str
    cards: dict[str, AgentCard] = field(default_factory=dict)
    allowed: set[tuple[str, str]] = field(default_factory=set)
    hub: str | None = None


@dataclass(slots=True)
class NetworkView:
    """Every agent card the dashboard knows, the edges the topologies allow, and each
    network's hub (for the drawing); `parts` keeps each network apart."""

    cards: dict[str, AgentCard] = field(default_factory=dict)
    allowed: set[tuple[str, str]] = field(default_factory=set)
    hubs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    parts: list[NetworkPart] = field(default_factory=list)

    def cards_of(self, agent_id: str) -> list[tuple[str, AgentCard]]:
        """(network name, card) of every network with an agent called `agent_id`."""
        return [(part.name, part.cards[agent_id]) for part in self.parts if agent_id in part.cards]

    @classmethod
    def load(cls, files: Iterable[Path]) -> NetworkView:
        """Read network files; one that cannot be read is named in `problems`, not fatal."""
        view = cls()
        for path in files:
            try:
                spec = load_spec(path)
            except (LamasError, OSError) as error:
                view.problems.append(f"{path}: {error}")
                continue
            view.names.append(spec.name)
            part = NetworkPart(spec.name, {a.card.id: a.card for a in spec.agents})
            view.parts.append(part)
            for agent in spec.agents:
                view.cards.setdefault(agent.card.id, agent.card)
            topology = spec.topology
            if topology.hub:
                view.hubs.append(topology.hub)
                part.hub = topology.hub
            try:
                edges = edges_for(topology, spec.agent_ids(), replicas=spec.replica_groups())
            except (LamasError, ValueError) as error:
                view.problems.append(f"{path}: topology: {error}")
                continue
            part.allowed = {(a, b) for a, b in edges if a != b}
            view.allowed |= part.allowed
        return view

    def edges(
        self, seen: dict[tuple[str, str], int], part: NetworkPart | None = None
    ) -> dict[tuple[str, str], int]:
        """Allowed edges (0 messages unless seen) and every edge messages were seen on,
        undirected: a -> b and b -> a are one line. With `part`, only that network's: its
        allowed edges and messages between two of its agents."""
        allowed = self.allowed if part is None else part.allowed
        members = None if part is None else part.cards.keys()
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for a, b in allowed:
            counts[_pair(a, b)] += 0
        for (a, b), count in seen.items():
            if members is None or (a in members and b in members):
                counts[_pair(a, b)] += count
        return dict(counts)


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)
