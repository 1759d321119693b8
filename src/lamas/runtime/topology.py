"""Topologies at run time: refusing sends along missing edges, and running a task through one.

`TopologyPolicy` is an `AccessPolicy`: the transport asks it before every delivery,
and an envelope whose `(sender, recipient)` is no edge of the network's shape is
refused with a `TopologyViolation` before any handler runs.

`run_flow` runs one task through a network the way its shape says (star, ring,
graph, bus), so that the same team can be compared across shapes. Members are
ordinary agents answering one skill (`work` by default) with a transformed
message; every hop is sent *as the agent whose output it carries*, so the policy
checks each hop against the edges like any other send. No flow can loop: each
one visits every member at most once.

`centralized` changes no hop: it says whether the hub may handle the user's data
itself (music, §4.1) or only coordinates while members use the data in their own
domains (travel, §4.2); the privacy layer holds agents to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from lamas.errors import AccessDenied
from lamas.protocol.messages import Envelope, Message, new_id
from lamas.protocol.topology import InvalidTopology, Layout, TopologyKind, TopologySpec, lay_out
from lamas.runtime.network import Network
from lamas.runtime.transport import AccessPolicy

DEFAULT_SKILL = "work"
_SHOWN = 10  # allowed recipients listed in a refusal, at most


class TopologyViolation(AccessDenied):
    """A send along an edge the network's topology does not have."""

    def __init__(
        self, sender: str, recipient: str, kind: TopologyKind, allowed: Sequence[str]
    ) -> None:
        self.kind = kind
        self.allowed = tuple(allowed)
        if allowed:
            more = f", ... ({len(allowed) - _SHOWN} more)" if len(allowed) > _SHOWN else ""
            may = f"{sender!r} may send only to {', '.join(allowed[:_SHOWN])}{more}"
        else:
            may = f"{sender!r} may send to no one (it has no place in this topology)"
        super().__init__(
            sender, recipient, f"the {kind} topology has no edge {sender} -> {recipient}; {may}"
        )


class TopologyPolicy:
    """Allows exactly the edges of a topology, then asks `inner` (e.g. a `RulePolicy`).

    An agent sending to itself crosses no edge and is let through to `inner`. A topic
    (`publish`) is no agent of the shape: it is refused unless listed in `open_to`.
    """

    def __init__(
        self,
        spec: TopologySpec,
        agent_ids: Iterable[str],
        *,
        replicas: Mapping[str, Iterable[str]] | None = None,
        inner: AccessPolicy | None = None,
    ) -> None:
        self.layout = lay_out(spec, agent_ids, replicas=replicas)
        self.inner = inner

    @property
    def edges(self) -> frozenset[tuple[str, str]]:
        return self.layout.edges

    def check(self, envelope: Envelope) -> None:
        sender, recipient = envelope.sender, envelope.recipient
        if sender != recipient and (sender, recipient) not in self.layout.edges:
            raise TopologyViolation(
                sender, recipient, self.layout.kind, self.layout.recipients(sender)
            )
        if self.inner is not None:
            self.inner.check(envelope)


async def run_flow(
    network: Network,
    spec: TopologySpec,
    task: Message,
    *,
    skill: str = DEFAULT_SKILL,
    start: str | None = None,
    replicas: Mapping[str, Iterable[str]] | None = None,
    task_id: str | None = None,
    timeout: float | None = None,
) -> Message:
    """Run `task` through `network` in the shape of `spec` and return the last output.

    - star: the entry hands the task to the hub; the hub asks each other member in
      turn, relaying what the previous one answered, and the last answer is the result;
    - ring: once around the ring from its first member, each handing its output to its
      successor; the last member's output is the result;
    - graph: from `start` (default: the first member), depth-first; a member hands its
      output to each neighbour not yet visited and gets that neighbour's subtree's
      result back as the reply. Each member works once; members the start cannot
      reach take no part;
    - bus: through the stages in order; one agent of each stage (the least loaded,
      the first listed on a tie) works on the previous stage's output.

    The entry (`spec.entry`, "user" by default) sends the first hop. Every hop carries
    one `task_id` (new unless given), and each may take at most `timeout` seconds.
    """
    if start is not None and spec.kind != "graph":
        raise InvalidTopology(f"only a graph flow takes a start; a {spec.kind} flow has its own")
    layout = lay_out(spec, (card.id for card in network.cards), replicas=replicas)
    flow = _Flow(network, layout, skill, task_id or new_id(), timeout)
    if layout.kind == "star":
        return await flow.star(task)
    if layout.kind == "ring":
        return await flow.ring(task)
    if layout.kind == "graph":
        return await flow.graph(task, start)
    return await flow.bus(task)


class _Flow:
    """One task's run: sends each hop and remembers nothing but the message in hand."""

    __slots__ = ("layout", "network", "skill", "task_id", "timeout")

    def __init__(
        self, network: Network, layout: Layout, skill: str, task_id: str, timeout: float | None
    ) -> None:
        self.network = network
        self.layout = layout
        self.skill = skill
        self.task_id = task_id
        self.timeout = timeout

    async def star(self, task: Message) -> Message:
        hub = self.layout.hub
        if hub is None:  # pragma: no cover - lay_out refuses a star without a hub
            raise InvalidTopology("a star topology needs a hub")
        at, message = await self.hop(self.layout.entry, (hub,), task)
        for spoke in self.layout.links.get(hub, ()):
            _, message = await self.hop(at, (spoke,), message)
        return message

    async def ring(self, task: Message) -> Message:
        at, message = self.layout.entry, task
        for name in self.layout.order:
            at, message = await self.hop(at, (name,), message)
        return message

    async def graph(self, task: Message, start: str | None) -> Message:
        members = self.layout.links.get(self.layout.entry, ())
        first = start or (members[0] if members else None)
        if first is None:
            raise InvalidTopology("the graph has no members to start from")
        if first not in members:
            raise InvalidTopology(
                f"cannot start a graph flow at {first!r}: it is not a member of the graph "
                f"(members: {', '.join(members)})"
            )
        at, message = await self.hop(self.layout.entry, (first,), task)
        visited = {first}
        # Depth-first with an explicit stack (no recursion limit): each frame is a member
        # in hand of the message and the neighbours it has yet to try.
        stack: list[tuple[str, Iterator[str]]] = [(at, iter(self._neighbours(first)))]
        while stack:
            at, neighbours = stack[-1]
            following = next((n for n in neighbours if n not in visited), None)
            if following is None:
                stack.pop()  # back to the parent, as the reply to its request
                continue
            visited.add(following)
            reached, message = await self.hop(at, (following,), message)
            stack.append((reached, iter(self._neighbours(following))))
        return message

    async def bus(self, task: Message) -> Message:
        at, message = self.layout.entry, task
        for _, serving in self.layout.stages:
            at, message = await self.hop(at, serving, message)
        return message

    def _neighbours(self, name: str) -> tuple[str, ...]:
        return tuple(n for n in self.layout.links.get(name, ()) if n != self.layout.entry)

    async def hop(self, sender: str, names: Sequence[str], message: Message) -> tuple[str, Message]:
        """Send `message` from `sender` to one agent serving `names`; its id and its output."""
        candidates = [i for name in names for i in self.layout.groups[name]]
        recipient = min(candidates, key=self.network.transport.load)  # first on a tie
        envelope = Envelope(
            sender=sender,
            recipient=recipient,
            skill=self.skill,
            task_id=self.task_id,
            message=message,
        )
        return recipient, await self.network.transport.request(envelope, timeout=self.timeout)
