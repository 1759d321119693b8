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
class NetworkView:
    """Every agent card the dashboard knows, the edges the topologies allow, and each
    network's hub (for the drawing)."""

    cards: dict[str, AgentCard] = field(default_factory=dict)
    allowed: set[tuple[str, str]] = field(default_factory=set)
    hubs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

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
            for agent in spec.agents:
                view.cards.setdefault(agent.card.id, agent.card)
            topology = spec.topology
            if topology.hub:
                view.hubs.append(topology.hub)
            try:
                edges = edges_for(topology, spec.agent_ids(), replicas=spec.replica_groups())
            except (LamasError, ValueError) as error:
                view.problems.append(f"{path}: topology: {error}")
                continue
            view.allowed |= {(a, b) for a, b in edges if a != b}
        return view

    def edges(self, seen: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        """Allowed edges (0 messages unless seen) and every edge messages were seen on,
        undirected: a -> b and b -> a are one line."""
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for a, b in self.allowed:
            counts[_pair(a, b)] += 0
        for (a, b), count in seen.items():
            counts[_pair(a, b)] += count
        return dict(counts)


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)
