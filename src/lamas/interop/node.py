"""One agent of a networked LaMAS: its A2A server, its own keys, and its view of the others.

A `Node` is what `lamas serve` runs. It holds a local `Network` in which its own agent
is a real handler and every other agent is a `RemoteAgent` learnt from the registry, so
the agent's code talks to peers exactly as in one process, and the network's access
rules are enforced here as there. The node's agent:

- is served over A2A at `http://HOST:PORT/` (port 0: a free one) by JSON-RPC and
  HTTP+JSON, and by gRPC on a port of its own (`grpc_port`; None: no gRPC), its card
  listing each, advertising exactly that URL, signed by its entity;
- signs every envelope it sends with its own key (the local transport's signer);
- checks every envelope it gets like an embedded agent does (signature by the sender's
  key, replays, rate limits, injection screening); a sender it does not know yet is
  looked up in the registry first. With `public`, plain A2A requests (no lamas
  envelope, no signature) are accepted as coming from the network's entry (the user):
  for the one agent that is meant to be a public door, like the orchestrator;
- publishes its registration to the registry, and keeps its peers in step with it: an
  agent the registry dropped leaves the local network, one that came back rejoins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import uvicorn

from lamas.agent.agent import Agent
from lamas.errors import ConfigError, InputError, LamasError
from lamas.interop.bindings import GrpcBinding
from lamas.interop.client import SERVER_KEEPALIVE_SECONDS, A2AConnector, RemoteAgent
from lamas.interop.edge import busy_edge
from lamas.interop.guard import AccessGuard
from lamas.interop.keys import KeyFolder, Registration, admit, register
from lamas.interop.limits import DEFAULT_MAX_BODY_BYTES
from lamas.interop.registry import RegistryClient
from lamas.interop.server import a2a_app, report_progress
from lamas.interop.taskstore import Retention, task_store
from lamas.interop.tokens import TokenCache
from lamas.protocol.cards import AgentCard
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Handler, Middleware, Reply
from lamas.runtime.defences import DEFAULT_RATE
from lamas.runtime.network import Network
from lamas.runtime.transport import AccessPolicy
from lamas.security.detector import MAX_TEXT_CHARS, Detector, QuarantineLog, screen
from lamas.security.ratelimit import Exempt, RateLimits, rate_limit
from lamas.security.signing import ReplayGuard, sign_envelope, verify_signatures

log = logging.getLogger(__name__)

SYNC_SECONDS = 1.0
KEEP_REJECTED = 1_000  # the newest rejected envelopes kept for review
LOOKUP_SECONDS = 0.25  # at most one registry look-up per this long for unknown senders


@dataclass(frozen=True, slots=True)
class NodeLimits:
    """What a node accepts from outside, and what it keeps (docs/security.md)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_text_chars: int = MAX_TEXT_CHARS
    caller_rate: tuple[float, float] = DEFAULT_RATE
    """Each caller's bucket over every A2A method: (calls a second, burst)."""
    retention: Retention = field(default_factory=Retention)
    task_store: str | None = None
    """A SQLAlchemy url to keep A2A tasks in across restarts; None: in memory."""


def no_delay(listening: socket.socket) -> None:
    """Turn off Nagle's algorithm on a listening socket (accepted connections inherit it).

    uvicorn given a ready socket leaves it on, and Nagle against the peer's delayed ACK
    holds every small response for ~40 ms: measured here, a loopback echo took 44 ms
    with it and 1 ms without.
    """
    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Node:
    """One agent served over A2A, with its peers from a registry (see the module)."""

    def __init__(
        self,
        card: AgentCard,
        keys: KeyFolder,
        *,
        registry: str | None = None,
        policy: AccessPolicy | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        public: bool = False,
        entry: str = "user",
        connector: A2AConnector | None = None,
        grpc_port: int | None = 0,
        platform: Iterable[str] = (),
        limits: NodeLimits | None = None,
    ) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        no_delay(self._socket)
        try:
            self._socket.bind((host, port))
        except OSError as error:
            self._socket.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None
        bound = self._socket.getsockname()[1]
        self.url = f"http://{host}:{bound}/"
        self.card = card.model_copy(update={"url": self.url, "signature": None})
        self.agent_key = keys.agent_key(card.id)
        self.entity_key = keys.entity_key(card.entity)
        self.registration: Registration = register(self.card, self.agent_key, self.entity_key)
        self.card = self.registration.card  # signed by the entity
        self.directory = keys.trust()
        admit(self.directory, self.registration)
        self.public = public
        self.entry = entry
        self.limits = limits or NodeLimits()
        # The platform's own agents (the hub): exempt from per-caller rate limits.
        self.platform = frozenset(platform)
        self.connector = connector or A2AConnector()
        self.connector.credentials = TokenCache(self.agent_key, card.id)
        self.guard = AccessGuard(
            card.id,
            self.directory,
            public=public,
            look_up=self._look_up,
            limits=RateLimits(default=self.limits.caller_rate),
            exempt=self.platform,
        )
        self.tasks = task_store(self.limits.task_store, self.limits.retention)
        self.registry = RegistryClient(registry) if registry else None
        self.network = Network(policy=policy)
        self.network.transport.signers[card.id] = partial(sign_envelope, key=self.agent_key)
        self.network.transport.observers.append(report_progress)
        self.replays = ReplayGuard()
        self.quarantine = QuarantineLog()
        self.rejected: list[tuple[Envelope, Exception]] = []
        self._server: uvicorn.Server | None = None
        self._grpc_port = grpc_port  # None: no gRPC binding; 0: any free port
        self._host = host
        self.grpc: GrpcBinding | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._looked_up = 0.0
        self._lookup = asyncio.Lock()

    @property
    def id(self) -> str:
        return self.card.id

    # --- peers --------------------------------------------------------------------------

    async def sync(self) -> set[str]:
        """Bring peers in step with the registry; returns the ids of healthy peers."""
        if self.registry is None:
            return set()
        listed = await self.registry.discover(every=True)
        if self._server is not None and all(r.card.id != self.id for r, _ in listed):
            # A registry restarted empty: publish again, so that peers find us.
            await self.registry.publish(self.registration)
        healthy: set[str] = set()
        for registration, ok in listed:
            card = registration.card
            if card.id == self.id:
                continue
            try:
                admit(self.directory, registration)
            except (InputError, ValueError) as error:
                log.warning("ignoring registry entry %s: %s", card.id, error)
                continue
            member = card.id in self.network.transport
            if ok:
                healthy.add(card.id)
                if member and self.network.card(card.id).url != card.url:
                    self.network.remove(card.id)  # restarted elsewhere
                    member = False
                if not member:
                    self.network.add(RemoteAgent(card, self.connector))
            elif member:
                self.network.remove(card.id)
        return healthy

    async def join(self, expect: Iterable[str], *, timeout: float = 30.0) -> None:
        """Wait until every agent in `expect` is a healthy peer (`ConfigError` after
        `timeout` seconds, naming the missing ones)."""
        wanted = set(expect) - {self.id}
        deadline = time.monotonic() + timeout
        while True:
            missing = wanted - await self.sync()
            if not missing:
                return
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"{self.id}: no answer from {', '.join(sorted(missing))} in the registry "
                    f"after {timeout:g} s; start them, or check the registry url"
                )
            await asyncio.sleep(0.1)

    # --- serving ------------------------------------------------------------------------

    def middleware(self) -> list[Middleware]:
        """What an embedded agent gets (`runtime.defences`), behind a look-up of unknown
        senders in the registry."""
        verify = verify_signatures(self.directory, guard=self.replays, record=self._record)

        def checked(handler: Handler) -> Handler:
            verified = verify(handler)

            async def check(envelope: Envelope, context: Context) -> Reply:
                if self.public and envelope.sender == self.entry and envelope.signature is None:
                    return await handler(envelope, context)
                if envelope.sender not in self.directory:
                    await self._look_up()
                return await verified(envelope, context)

            return check

        return [
            checked,
            rate_limit(Exempt(RateLimits(default=DEFAULT_RATE), self.platform)),
            screen(Detector(), quarantine=self.quarantine, max_chars=self.limits.max_text_chars),
        ]

    async def start(
        self, handler: Handler, *, busy: Callable[[], float | None] | None = None
    ) -> None:
        """Serve `handler` as this node's agent, publish it, and keep peers in step. With
        `busy` (admission control), requests are refused with 503 + Retry-After while it
        says how long to wait."""
        agent = Agent(self.card, handler, middleware=self.middleware())
        self.network.add(agent)
        if self._grpc_port is not None:
            self.grpc = GrpcBinding(self._host, self._grpc_port)
        target = self.grpc.target if self.grpc else None
        served: Any = a2a_app(
            self.card,
            self._deliver,
            anonymous=self.entry,
            grpc_target=target,
            guard=self.guard,
            tasks=self.tasks,
            max_body_bytes=self.limits.max_body_bytes,
            max_questions=self.limits.retention.max_tasks,
        )
        if self.grpc is not None:  # over the very (guarded) handler the HTTP bindings serve
            await self.grpc.start(served.state.request_handler)
        app: Any = served
        if busy is not None:
            app = busy_edge(app, busy)
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=int(SERVER_KEEPALIVE_SECONDS),
        )
        self._server = uvicorn.Server(config)
        self._tasks.append(asyncio.create_task(self._server.serve(sockets=[self._socket])))
        while not self._server.started:
            if self._tasks[0].done():
                self._tasks[0].result()  # raise what stopped it
            await asyncio.sleep(0.01)
        if self.registry is not None:
            await self.registry.publish(self.registration)
            self._tasks.append(asyncio.create_task(self._keep_in_step()))
        log.info("%s serving at %s", self.id, self.url)

    async def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self.grpc is not None:
            await self.grpc.stop()
        for task in reversed(self._tasks):
            if task is not self._tasks[0]:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.connector.close()
        if self.registry is not None:
            await self.registry.close()
        self._socket.close()

    async def _deliver(self, envelope: Envelope) -> Message:
        if envelope.mode == "async":
            await self.network.transport.post(envelope)
            return Message.of_data({"accepted": envelope.id})
        return await self.network.transport.request(envelope)

    async def _keep_in_step(self) -> None:
        while True:
            await asyncio.sleep(SYNC_SECONDS)
            try:
                await self.sync()
            except LamasError as error:  # the registry may be restarting: try again
                log.warning("%s: registry sync failed: %s", self.id, error)

    async def _look_up(self) -> None:
        async with self._lookup:
            if time.monotonic() - self._looked_up < LOOKUP_SECONDS:
                return
            self._looked_up = time.monotonic()
            with contextlib.suppress(LamasError):
                await self.sync()

    def _record(self, envelope: Envelope, error: Exception) -> None:
        self.rejected.append((envelope, error))
        if len(self.rejected) > KEEP_REJECTED:  # an attacker's flood must not fill memory
            del self.rejected[: len(self.rejected) - KEEP_REJECTED]
