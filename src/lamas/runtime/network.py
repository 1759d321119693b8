"""`Network`: the agents of one LaMAS, found by capability and balanced across replicas."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Literal

from lamas.agent.agent import Agent
from lamas.errors import ConfigError, DuplicateAgent, NoCapability, UnknownAgent
from lamas.protocol.cards import AgentCard
from lamas.protocol.messages import Envelope, Message
from lamas.runtime.transport import DEFAULT_CONCURRENCY, AccessPolicy, LocalTransport

if TYPE_CHECKING:  # defences pull in cryptography and the detector: loaded when built
    from lamas.runtime.defences import Defences

Balance = Literal["round_robin", "least_loaded"]


class Network:
    """Registers agents on a transport, indexes their cards by skill, and routes requests
    for a capability to one of the agents that offer it."""

    def __init__(
        self,
        agents: Iterable[Agent] = (),
        *,
        policy: AccessPolicy | None = None,
        transport: LocalTransport | None = None,
    ) -> None:
        if transport is not None and policy is not None:
            raise ConfigError(
                "give the access policy to the transport, or let Network build the transport; "
                "a policy beside a ready-made transport would not be enforced"
            )
        self.transport = transport or LocalTransport(policy=policy)
        self.defences: Defences | None = None
        """Keys, signed cards and the default middleware, when built with them."""
        self._cards: dict[str, AgentCard] = {}
        self._by_skill: dict[str, list[str]] = {}
        self._turns: dict[str, Iterator[int]] = {}
        for agent in agents:
            self.add(agent)

    def add(self, agent: Agent, *, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.transport.register(agent.id, agent.handle, concurrency=concurrency)
        self._cards[agent.id] = agent.card
        for skill in agent.card.skills:
            self._by_skill.setdefault(skill.name, []).append(agent.id)

    def add_remote(self, card: AgentCard) -> None:
        """Know an agent served in another process (a Ray shard) by its card: it is found by
        capability here and reached through the transport, which knows where it lives."""
        if card.id in self._cards:
            raise DuplicateAgent(card.id)
        self._cards[card.id] = card
        for skill in card.skills:
            self._by_skill.setdefault(skill.name, []).append(card.id)

    def remove(self, agent_id: str) -> None:
        card = self._cards.pop(agent_id, None)
        if card is None:
            raise UnknownAgent(agent_id)
        self.transport.unregister(agent_id)
        for skill in card.skills:
            self._by_skill[skill.name].remove(agent_id)

    def subset(self, agent_ids: Iterable[str]) -> Network:
        """A network of only these agents, served by the same handlers, under the same
        access policy (for what-if runs: what would the task have been without X?)."""
        keep = set(agent_ids)
        unknown = sorted(keep - set(self._cards))
        if unknown:
            raise UnknownAgent(unknown[0])
        world = Network(
            (
                Agent(card, self.transport.handler(card.id))
                for card in self._cards.values()
                if card.id in keep
            ),
            policy=self.transport.policy,
        )
        world.transport.signers = self.transport.signers
        world.defences = self.defences
        return world

    def card(self, agent_id: str) -> AgentCard:
        try:
            return self._cards[agent_id]
        except KeyError:
            raise UnknownAgent(agent_id) from None

    @property
    def cards(self) -> list[AgentCard]:
        return list(self._cards.values())

    def capabilities(self) -> list[str]:
        return sorted(name for name, ids in self._by_skill.items() if ids)

    def find(self, capability: str) -> list[AgentCard]:
        """The cards of every agent offering `capability`, in registration order."""
        return [self._cards[i] for i in self._by_skill.get(capability, [])]

    def choose(self, capability: str, balance: Balance = "round_robin") -> str:
        """The id of the replica that should get the next request for `capability`."""
        replicas = self._by_skill.get(capability)
        if not replicas:
            raise NoCapability(capability, self.capabilities())
        if balance == "least_loaded":
            return min(replicas, key=self.transport.load)
        turn = self._turns.setdefault(capability, itertools.count())
        return replicas[next(turn) % len(replicas)]

    async def call(
        self,
        capability: str,
        message: Message,
        *,
        sender: str,
        balance: Balance = "round_robin",
        priority: int = 0,
        task_id: str | None = None,
        context_id: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Ask one agent offering `capability` and wait for its reply."""
        envelope = Envelope(
            sender=sender,
            recipient=self.choose(capability, balance),
            skill=capability,
            priority=priority,
            task_id=task_id,
            context_id=context_id,
            message=message,
        )
        return await self.transport.request(envelope, timeout=timeout)

    async def ask(
        self,
        agent_id: str,
        text: str,
        *,
        skill: str | None = None,
        sender: str = "user",
        timeout: float | None = None,
    ) -> Message:
        """Send `text` to one agent, as the user, and wait for its reply."""
        envelope = Envelope(
            sender=sender,
            recipient=agent_id,
            skill=skill,
            message=Message.of_text(text, role="user"),
        )
        return await self.transport.request(envelope, timeout=timeout)
