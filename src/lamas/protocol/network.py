"""Network definitions: a LaMAS described once (agents, topology, access rules), as data.

The same definition runs embedded, networked or distributed; loading it from a
file is the runtime's job (`lamas.runtime.netfile`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import Field, model_validator

from lamas.protocol._validation import parse
from lamas.protocol.cards import AgentCard
from lamas.protocol.messages import Wire
from lamas.protocol.topology import TopologyField, TopologyKind, TopologySpec, lay_out

Topology = TopologyKind  # the kinds' earlier name, kept for importers
HANDLER_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class AgentSpec(Wire):
    """One agent of a network: its card and, optionally, where its handler factory lives."""

    card: AgentCard
    handler: str | None = Field(
        default=None,
        pattern=HANDLER_PATTERN,
        description="`module:attribute` of a function taking the card and returning a Handler",
    )
    replicas: int = Field(default=1, ge=1, le=1000)
    mcp: tuple[str, ...] = Field(
        default=(),
        description=(
            "MCP servers (a command line, or an http(s) URL) whose tools this agent uses: "
            "passed to its handler factory as `mcp=` (`lamas.interop.mcp_client:tool_agent` "
            "answers each skill with the tool of the same name)"
        ),
    )


class RuleSpec(Wire):
    """Allows `sender` to ask `recipient` for `skill` (globs)."""

    sender: str = "*"
    recipient: str = "*"
    skill: str = "*"


def replica_id(agent_id: str, index: int) -> str:
    """The id of replica `index` (from 0) of a replicated agent: `x-1`, `x-2`, ..."""
    return f"{agent_id}-{index + 1}"


class NetworkSpec(Wire):
    name: str = Field(min_length=1)
    description: str = ""
    topology: TopologyField = Field(
        default_factory=TopologySpec,
        description="a kind (`star`, `ring`, `graph`, `bus`) or a mapping with its details",
    )
    agents: tuple[AgentSpec, ...] = Field(min_length=1)
    rules: tuple[RuleSpec, ...] = Field(
        default=(), description="access rules; none means every delivery is allowed"
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> NetworkSpec:
        ids = self.agent_ids()
        repeated = sorted(i for i, count in Counter(ids).items() if count > 1)
        if repeated:
            raise ValueError(
                f"agent ids (replicas counted as id-1, id-2, ...) must be unique; "
                f"repeated: {', '.join(repeated)}"
            )
        if self.topology.enforced:
            # Names unknown to this network are an error of the definition, found on load
            # rather than on the first refused delivery (`InvalidTopology` is a ValueError).
            lay_out(self.topology, ids, replicas=self.replica_groups())
        return self

    def agent_ids(self) -> tuple[str, ...]:
        """Every agent's id as registered, a replicated agent's replicas expanded."""
        return tuple(
            a.card.id if a.replicas == 1 else replica_id(a.card.id, index)
            for a in self.agents
            for index in range(a.replicas)
        )

    def replica_groups(self) -> dict[str, tuple[str, ...]]:
        """Each replicated agent's id and its replicas' ids (`x` -> `x-1`, `x-2`, ...)."""
        return {
            a.card.id: tuple(replica_id(a.card.id, index) for index in range(a.replicas))
            for a in self.agents
            if a.replicas > 1
        }

    @classmethod
    def parse(cls, data: str | bytes | dict[str, Any]) -> NetworkSpec:
        return parse(cls, data, "network definition")
