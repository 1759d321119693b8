"""Talking to A2A agents: `A2AConnector` (one connection pool, one client per agent),
`HttpTransport` (the lamas `Transport` over A2A) and `RemoteAgent` (any A2A agent,
ours or someone else's, as a member of a lamas `Network`).

A request is one A2A `SendMessage` that blocks until the remote task ends (or waits for
input); a one-way envelope (`post`, or mode async) asks the server to return at once.
The outcome maps back: completed or input-required -> the reply message (its exact lamas
form where the server is lamas), failed or rejected -> `RemoteError` with the remote
error's text, canceled -> `RemoteError`; no answer at all -> `AgentUnreachable`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping

import httpx
from a2a.client import (
    A2ACardResolver,
    A2AClientError,
    A2AClientTimeoutError,
    Client,
    ClientCallContext,
    ClientConfig,
    ClientFactory,
)
from a2a.types import AgentCard as A2ACard
from a2a.types import Message as A2AMessage
from a2a.types import (
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    Task,
)
from a2a.types import TaskState as A2AState
from a2a.utils.errors import A2AError

from lamas.agent.agent import Agent
from lamas.errors import AgentUnreachable, ConfigError, DeadlineExceeded, RemoteError, UnknownAgent
from lamas.interop.bindings import BINDINGS, GRPC, JSONRPC, interfaces
from lamas.interop.cards import a2a_url, from_a2a_card, to_a2a_card
from lamas.interop.wire import envelope_to_a2a, message_from_a2a
from lamas.protocol.cards import AgentCard
from lamas.protocol.messages import Envelope, Message, TextPart
from lamas.protocol.types import Context, Reply

DEFAULT_TIMEOUT = 60.0
KEEPALIVE_SECONDS = 2.0
SERVER_KEEPALIVE_SECONDS = 30.0
"""How long lamas servers keep an idle connection open: longer than clients keep it."""
ENDED_BADLY = {
    A2AState.TASK_STATE_FAILED: "failed",
    A2AState.TASK_STATE_REJECTED: "rejected",
    A2AState.TASK_STATE_CANCELED: "canceled",
}


class A2AConnector:
    """One HTTP connection pool shared by the A2A clients of every agent it talks to, in
    one A2A binding (`binding`: JSON-RPC by default, HTTP+JSON or gRPC)."""

    def __init__(
        self,
        *,
        max_connections: int = 64,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
        binding: str = JSONRPC,
        credentials: Callable[[str], str] | None = None,
    ) -> None:
        if binding not in BINDINGS:
            raise ConfigError(f"unknown A2A binding {binding!r}; one of {', '.join(BINDINGS)}")
        self.binding = binding
        self.timeout = timeout
        # A bearer token for a call to the named agent (`interop/tokens.TokenCache`): every
        # A2A method of a non-public agent needs one (`interop/guard.py`).
        self.credentials = credentials
        # At most this many requests in flight; the rest wait here, not in httpx's pool,
        # whose queue grows slow when long (1,000 queued requests: 3x the wall time).
        self.slots = asyncio.Semaphore(max_connections)
        self.http = http or httpx.AsyncClient(
            # Idle connections are dropped well before a server would close them (uvicorn:
            # after 5 s by default), so that a request never races a server-side close.
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=KEEPALIVE_SECONDS,
            ),
            # Waiting for a free connection is not a failure: many tasks may share few.
            timeout=httpx.Timeout(timeout, pool=None),
        )
        self._factory = ClientFactory(self._config(streaming=False))
        self._streaming = ClientFactory(self._config(streaming=True))
        self._clients: dict[tuple[str, bool], Client] = {}
        self._cards: dict[str, A2ACard] = {}

    def _config(self, *, streaming: bool) -> ClientConfig:
        channel = None
        if self.binding == GRPC:
            from grpc.aio import insecure_channel

            channel = insecure_channel
        return ClientConfig(
            httpx_client=self.http,
            streaming=streaming,
            supported_protocol_bindings=[self.binding],
            use_client_preference=True,
            grpc_channel_factory=channel,
        )

    async def _learn(self, url: str) -> None:
        """Fetch the agent's card where what is known of it lacks this connector's
        binding (a gRPC port is in the served card only)."""
        known = self._cards.get(url)
        if known is None:
            offers = self.binding != GRPC  # a bare card offers the two HTTP bindings at url
        else:
            offers = any(i.protocol_binding == self.binding for i in known.supported_interfaces)
        if not offers:
            await self.fetch_card(url)

    async def fetch_card(self, url: str) -> A2ACard:
        """The A2A card served at `url`'s well-known path (`AgentUnreachable` if none)."""
        try:
            card = await A2ACardResolver(self.http, url).get_agent_card()
        except A2AClientError as error:
            raise AgentUnreachable(url, str(error)) from None
        self._cards[a2a_url(card)] = card
        return card

    def remember(self, card: AgentCard) -> None:
        """Talk to `card`'s agent without fetching its A2A card (it is made from ours)."""
        if card.url and card.url not in self._cards:
            self._cards[card.url] = to_a2a_card(card)

    def client(self, url: str, *, streaming: bool = False) -> Client:
        client = self._clients.get((url, streaming))
        if client is None:
            card = self._cards.get(url) or _bare_card(url)
            factory = self._streaming if streaming else self._factory
            try:
                client = factory.create(card)
            except ValueError:  # the SDK's "no compatible transports found"
                offered = ", ".join(i.protocol_binding for i in card.supported_interfaces)
                raise AgentUnreachable(
                    url, f"it offers no {self.binding} interface (only {offered or 'none'})"
                ) from None
            self._clients[(url, streaming)] = client
        return client

    async def send(
        self,
        url: str,
        message: A2AMessage,
        *,
        timeout: float | None = None,
        wait: bool = True,
        agent: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Task | A2AMessage:
        """Send `message` to the agent at `url`; its task once it ends (or, without
        `wait`, once it is taken), or the message it answered with."""
        request = SendMessageRequest(
            message=message, configuration=SendMessageConfiguration(return_immediately=not wait)
        )
        limit = timeout if timeout is not None else self.timeout
        context = ClientCallContext(timeout=limit, service_parameters=self.headers(agent, headers))
        who = agent or url
        try:
            # The deadline counts from when a connection is free: waiting for one is this
            # process's own queue, not the agent being slow (under load, the queue alone
            # used to spend a step's deadline).
            async with self.slots, asyncio.timeout(limit):
                await self._learn(url)
                async for event in self.client(url).send_message(request, context=context):
                    if event.HasField("task"):
                        return event.task
                    if event.HasField("message"):
                        return event.message
        except (TimeoutError, A2AClientTimeoutError):
            raise DeadlineExceeded(who, limit) from None
        except A2AError as error:
            raise _failure(who, error) from None
        raise RemoteError(who, "it answered with neither a task nor a message")

    async def stream(
        self,
        url: str,
        message: A2AMessage,
        *,
        timeout: float | None = None,
        agent: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[StreamResponse]:
        """Send `message` and yield the task's events (status, artifacts) as they come."""
        request = SendMessageRequest(message=message)
        context = ClientCallContext(
            timeout=timeout if timeout is not None else self.timeout,
            service_parameters=self.headers(agent, headers),
        )
        try:
            async with self.slots:
                await self._learn(url)
                async for event in self.client(url, streaming=True).send_message(
                    request, context=context
                ):
                    yield event
        except A2AError as error:
            raise _failure(agent or url, error) from None

    def headers(self, agent: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The headers of a call to `agent`: a bearer token if this connector has
        credentials and knows whom it calls, and `extra` (e.g. a task capability)."""
        found = dict(extra or {})
        if agent is not None and self.credentials is not None:
            found["Authorization"] = f"Bearer {self.credentials(agent)}"
        return found

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        await self.http.aclose()


def _failure(who: str, error: A2AError) -> AgentUnreachable | RemoteError:
    """What an A2A client error means here: the agent answered and refused (an A2A or
    JSON-RPC error, an HTTP 4xx: `RemoteError`), or it could not be reached."""
    text = str(error)
    if not isinstance(error, A2AClientError) or text.startswith(("JSON-RPC Error", "HTTP Error 4")):
        return RemoteError(who, f"it refused the call: {text}")
    return AgentUnreachable(who, _why(error))


def _why(error: Exception) -> str:
    """The A2A client's error with the network error under it (whose text may be empty)."""
    cause = error.__cause__
    return f"{error} ({type(cause).__name__})" if cause is not None else str(error)


def _bare_card(url: str) -> A2ACard:
    """What to talk to an agent by when only its URL is known: A2A v1.0 over JSON-RPC
    (or HTTP+JSON) there."""
    return A2ACard(name=url, supported_interfaces=interfaces(url))


def reply_of(outcome: Task | A2AMessage, agent: str) -> Message:
    """The lamas reply an A2A outcome stands for (see the module's docstring)."""
    if isinstance(outcome, A2AMessage):
        return message_from_a2a(outcome)
    state = outcome.status.state
    status = outcome.status.message if outcome.status.HasField("message") else None
    if state in ENDED_BADLY:
        text = " ".join(p.text for p in status.parts if p.HasField("text")) if status else ""
        raise RemoteError(agent, f"its task {ENDED_BADLY[state]}: {text or 'no reason given'}")
    if status is not None and status.parts:
        return message_from_a2a(status)
    parts = [p for artifact in outcome.artifacts for p in artifact.parts]
    if parts:
        carrier = A2AMessage(parts=parts)
        return message_from_a2a(carrier)
    return Message(parts=(TextPart(text=f"task {outcome.id} is {A2AState.Name(state)}"),))


class HttpTransport:
    """The lamas `Transport` over A2A: envelopes to agents found by id in `urls`.

    An envelope from a sender in `signers` is signed by it first, as `LocalTransport`
    does for its agents, so that what crosses the wire is always signed.
    """

    def __init__(
        self,
        urls: Mapping[str, str] | Callable[[str], str | None],
        *,
        connector: A2AConnector | None = None,
        signers: Mapping[str, Callable[[Envelope], Envelope]] | None = None,
    ) -> None:
        self._urls = urls
        self.connector = connector or A2AConnector()
        self.signers = dict(signers or {})

    def url(self, agent_id: str) -> str:
        found = self._urls(agent_id) if callable(self._urls) else self._urls.get(agent_id)
        if found is None:
            raise UnknownAgent(agent_id)
        return found

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        envelope = self._signed(envelope)
        outcome = await self.connector.send(
            self.url(envelope.recipient),
            envelope_to_a2a(envelope),
            timeout=_seconds_left(envelope.deadline, timeout),
            agent=envelope.recipient,
        )
        return reply_of(outcome, envelope.recipient)

    async def post(self, envelope: Envelope) -> None:
        envelope = self._signed(envelope)
        await self.connector.send(
            self.url(envelope.recipient),
            envelope_to_a2a(envelope),
            wait=False,
            agent=envelope.recipient,
        )

    async def close(self) -> None:
        await self.connector.close()

    def _signed(self, envelope: Envelope) -> Envelope:
        if envelope.signature is not None:
            return envelope
        sign = self.signers.get(envelope.sender)
        return sign(envelope) if sign is not None else envelope


class RemoteAgent(Agent):
    """An agent served elsewhere over A2A, as a member of this process's `Network`.

    Its handler forwards each envelope to the agent's URL; the local transport in front
    of it still applies this network's access rules, and the remote side checks the
    envelope's signature. Make one from a card (`RemoteAgent(card, connector)`) or from
    a URL alone (`await RemoteAgent.connect(url)`), which reads the agent's A2A card.
    """

    __slots__ = ("connector", "url")

    def __init__(self, card: AgentCard, connector: A2AConnector) -> None:
        if not card.url:
            raise UnknownAgent(card.id)
        self.url = card.url
        self.connector = connector
        connector.remember(card)
        super().__init__(card, self._forward)

    @classmethod
    async def connect(cls, url: str, connector: A2AConnector | None = None) -> RemoteAgent:
        connector = connector or A2AConnector()
        return cls(from_a2a_card(await connector.fetch_card(url)), connector)

    async def _forward(self, envelope: Envelope, context: Context) -> Reply:
        message = envelope_to_a2a(envelope)
        if envelope.mode == "async":
            await self.connector.send(self.url, message, wait=False, agent=self.id)
            return None
        outcome = await self.connector.send(
            self.url, message, timeout=_seconds_left(envelope.deadline, None), agent=self.id
        )
        return reply_of(outcome, self.id)

    def __repr__(self) -> str:
        return f"RemoteAgent({self.id!r}, url={self.url!r})"


def _seconds_left(deadline: float | None, timeout: float | None) -> float | None:
    if deadline is None:
        return timeout
    left = max(0.0, deadline - time.time())
    return left if timeout is None else min(left, timeout)
