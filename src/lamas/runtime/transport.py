"""Transports move envelopes. `LocalTransport` does it in one process with asyncio.

Each registered agent has a mailbox: a priority heap drained by at most
`concurrency` worker tasks that exist only while there is work, so an idle
agent costs a few hundred bytes and no task. A priority-9 envelope overtakes
queued priority-0 ones. Envelopes are not re-validated here: validation
happens where data enters from outside (`Envelope.parse`), not on every hop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lamas import telemetry
from lamas.errors import (
    DeadlineExceeded,
    DeliveryError,
    DuplicateAgent,
    TransportClosed,
    UnknownAgent,
)
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Handler

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16
DEAD_LETTERS_KEPT = 1000


class AccessPolicy(Protocol):
    """Asked before every delivery; raises `AccessDenied` to refuse it."""

    def check(self, envelope: Envelope) -> None: ...


Observer = Callable[[Envelope], None]
"""Sees every envelope the transport accepts for delivery (taps for logs, traces, demos)."""

ReplyObserver = Callable[[Envelope, Message], None]
"""Sees each reply a handler here gave to a request, with the request (its latency: now
minus the request's `sent_at`)."""


class Transport(Protocol):
    """Moves envelopes; the rest of lamas never knows which transport is underneath."""

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message: ...

    async def post(self, envelope: Envelope) -> None: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A one-way envelope whose handler failed: kept so that no failure goes unseen."""

    envelope: Envelope
    error: BaseException
    at: float


_Queued = tuple[int, int, Envelope, "asyncio.Future[Message] | None", "asyncio.TimerHandle | None"]
"""(-priority, arrival, envelope, the requester's future, its deadline timer)."""
_Handed = tuple[Envelope, "asyncio.Future[Message] | None", "asyncio.TimerHandle | None"]
"""An envelope handed to a new worker directly, with its future and timer."""


class _Mailbox:
    __slots__ = ("active", "context", "evicted", "handler", "heap", "limit", "pending")

    def __init__(self, handler: Handler, context: AgentContext, limit: int) -> None:
        self.handler = handler
        self.context = context
        self.limit = limit
        self.heap: list[_Queued] = []
        self.active = 0  # worker tasks draining the heap
        self.pending = 0  # queued + being handled: the load that least-loaded balancing sees
        self.evicted: Exception | None = None  # why the mailbox was emptied (closed, removed)


class AgentContext:
    """The `Context` a handler gets: its own id and the transport to talk through."""

    __slots__ = ("_transport", "agent_id")

    def __init__(self, agent_id: str, transport: LocalTransport) -> None:
        self.agent_id = agent_id
        self._transport = transport

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        return await self._transport.request(envelope, timeout=timeout)

    async def post(self, envelope: Envelope) -> None:
        await self._transport.post(envelope)


class LocalTransport:
    """In-process transport: `request` awaits a reply (with a deadline), `post` and
    `publish` are fire-and-forget, and each mailbox is served highest priority first."""

    def __init__(self, *, policy: AccessPolicy | None = None) -> None:
        self.policy = policy
        self._boxes: dict[str, _Mailbox] = {}
        self._topics: dict[str, list[str]] = {}
        self._order = itertools.count()
        self._closed = False
        self._waiting: set[asyncio.Future[Message]] = set()
        self.observers: list[Observer] = []
        self.reply_observers: list[ReplyObserver] = []
        # Embedded mode: this process holds each local agent's key and signs, as that
        # agent, what it sends (networked agents sign in their own processes).
        self.signers: dict[str, Callable[[Envelope], Envelope]] = {}
        self.dead_letters: deque[DeadLetter] = deque(maxlen=DEAD_LETTERS_KEPT)

    # --- membership ---------------------------------------------------------

    def register(
        self, agent_id: str, handler: Handler, *, concurrency: int = DEFAULT_CONCURRENCY
    ) -> None:
        if agent_id in self._boxes:
            raise DuplicateAgent(agent_id)
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._boxes[agent_id] = _Mailbox(handler, AgentContext(agent_id, self), concurrency)

    def unregister(self, agent_id: str) -> None:
        box = self._boxes.pop(agent_id, None)
        if box is None:
            raise UnknownAgent(agent_id)
        self._evict(box, UnknownAgent(agent_id))
        for members in self._topics.values():
            if agent_id in members:
                members.remove(agent_id)

    def subscribe(self, topic: str, agent_id: str) -> None:
        if agent_id not in self._boxes:
            raise UnknownAgent(agent_id)
        members = self._topics.setdefault(topic, [])
        if agent_id not in members:
            members.append(agent_id)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._boxes

    def handler(self, agent_id: str) -> Handler:
        """The handler registered for `agent_id` (to serve the same agent elsewhere)."""
        box = self._boxes.get(agent_id)
        if box is None:
            raise UnknownAgent(agent_id)
        return box.handler

    def load(self, agent_id: str) -> int:
        """Envelopes queued for or being handled by `agent_id`."""
        box = self._boxes.get(agent_id)
        if box is None:
            raise UnknownAgent(agent_id)
        return box.pending

    # --- sending ------------------------------------------------------------

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        """Deliver `envelope` and wait for the reply, at most until its deadline or `timeout`."""
        if telemetry.TRACER is None:  # off: this check is all tracing costs
            return await self.send(envelope, timeout=timeout)
        span, envelope = telemetry.start_hop(envelope)
        try:
            reply = await self.send(envelope, timeout=timeout)
        except BaseException as error:
            telemetry.end_span(span, error)
            raise
        span.end()
        return reply

    def send(self, envelope: Envelope, *, timeout: float | None = None) -> asyncio.Future[Message]:
        """`request` as a future rather than a coroutine: the reply, or the error, lands in it.

        For fan-out: `await asyncio.gather(*(transport.send(e) for e in envelopes))` waits on
        the futures themselves, where gathering `request` coroutines wraps each in a Task
        (about a third of a request's cost). A refused envelope (unknown recipient, access
        policy, closed transport) fails its future, so one bad envelope does not stop the
        others being sent. Cancelling the future withdraws a request not yet handled. Not
        traced: tracing wraps `request`.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        try:
            if self.signers:
                envelope = self._signed(envelope)
            box = self._admit(envelope)
        except Exception as error:
            future.set_exception(error)
            return future
        self._waiting.add(future)
        timer = None
        if envelope.deadline is not None or timeout is not None:
            limit = _seconds_left(envelope.deadline, timeout)
            if limit is not None:
                timer = loop.call_later(limit, _expire, future, envelope.recipient, limit)
        self._enqueue(box, envelope, future, timer, loop)
        return future

    async def post(self, envelope: Envelope) -> None:
        """Deliver `envelope` without waiting; a failure is kept in `dead_letters`."""
        if telemetry.TRACER is not None:
            span, envelope = telemetry.start_hop(envelope)
            try:
                envelope = self._signed(envelope)
                self._enqueue(self._admit(envelope), envelope, None)
            except BaseException as error:
                telemetry.end_span(span, error)
                raise
            span.end()
            return
        envelope = self._signed(envelope)
        self._enqueue(self._admit(envelope), envelope, None)

    async def publish(self, envelope: Envelope) -> int:
        """Deliver `envelope` to every subscriber of its recipient topic; returns how many."""
        if self._closed:
            raise TransportClosed("transport is closed")
        span = None
        if telemetry.TRACER is not None:
            span, envelope = telemetry.start_hop(envelope)
            span.end()  # a publish hop ends once the envelope is queued for every member
        envelope = self._signed(envelope)
        members = self._topics.get(envelope.recipient, [])
        if self.policy is not None:
            self.policy.check(envelope)
        for member in members:
            self._enqueue(self._boxes[member], envelope, None)
        return len(members)

    async def close(self) -> None:
        """Refuse new envelopes, fail every waiting request with `TransportClosed`, and keep
        every queued one-way envelope in `dead_letters`."""
        self._closed = True
        for agent_id, box in self._boxes.items():
            self._evict(box, TransportClosed(f"transport closed before {agent_id} handled it"))
        for future in tuple(self._waiting):
            if not future.done():
                future.set_exception(TransportClosed("transport closed before the reply came"))

    # --- internals ----------------------------------------------------------

    def _signed(self, envelope: Envelope) -> Envelope:
        if not self.signers or envelope.signature is not None:
            return envelope
        sign = self.signers.get(envelope.sender)
        return sign(envelope) if sign is not None else envelope

    def _admit(self, envelope: Envelope) -> _Mailbox:
        if self._closed:
            raise TransportClosed("transport is closed")
        box = self._boxes.get(envelope.recipient)
        if box is None:
            raise UnknownAgent(envelope.recipient)
        if self.policy is not None:
            self.policy.check(envelope)
        return box

    def _enqueue(
        self,
        box: _Mailbox,
        envelope: Envelope,
        future: asyncio.Future[Message] | None,
        timer: asyncio.TimerHandle | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        for observe in self.observers:
            observe(envelope)
        box.pending += 1
        if box.active < box.limit:
            box.active += 1
            # A new worker: with nothing queued, this envelope is the first it would pop, so
            # it is handed over directly (no heap entry: an idle agent's usual request).
            first = None
            if not box.heap:
                first = (envelope, future, timer)
            else:
                heapq.heappush(
                    box.heap, (-envelope.priority, next(self._order), envelope, future, timer)
                )
            (loop or asyncio.get_running_loop()).create_task(self._drain(box, first))
            return
        heapq.heappush(box.heap, (-envelope.priority, next(self._order), envelope, future, timer))

    async def _drain(self, box: _Mailbox, first: _Handed | None = None) -> None:
        heap = box.heap
        try:
            while first is not None or heap:
                if first is None:
                    _, _, envelope, future, timer = heapq.heappop(heap)
                else:
                    (envelope, future, timer), first = first, None
                    if box.evicted is not None:  # emptied before this worker started
                        self._drop(box, envelope, future, timer, box.evicted)
                        continue
                try:
                    if future is not None and future.done():
                        self._waiting.discard(future)
                        continue  # the caller stopped waiting (deadline or cancel)
                    if envelope.deadline is not None and time.time() > envelope.deadline:
                        raise DeadlineExceeded(envelope.recipient, 0.0)
                    if telemetry.TRACER is None:
                        reply = await box.handler(envelope, box.context)
                    else:
                        with telemetry.handling(envelope):
                            reply = await box.handler(envelope, box.context)
                    if future is None:
                        continue
                    if reply is None:
                        raise DeliveryError(
                            f"{envelope.recipient!r} returned no reply to request {envelope.id}"
                        )
                    if not future.done():
                        future.set_result(reply)
                    for observe_reply in self.reply_observers:
                        observe_reply(envelope, reply)
                except Exception as error:  # a handler's failure goes to whoever is waiting
                    self._fail(envelope, future, error)
                finally:
                    box.pending -= 1
                    if future is not None:
                        self._waiting.discard(future)
                    if timer is not None:
                        timer.cancel()
        finally:
            box.active -= 1

    def _evict(self, box: _Mailbox, error: Exception) -> None:
        """Empty a mailbox: queued requests fail with `error`, queued posts become dead letters."""
        box.evicted = error  # and an envelope handed to a worker not yet started
        queued = list(box.heap)
        box.heap.clear()  # in place: a running worker holds this list
        for _, _, envelope, future, timer in queued:
            self._drop(box, envelope, future, timer, error)

    def _drop(
        self,
        box: _Mailbox,
        envelope: Envelope,
        future: asyncio.Future[Message] | None,
        timer: asyncio.TimerHandle | None,
        error: Exception,
    ) -> None:
        """A queued envelope that will not be handled: its request fails with `error`, a
        one-way envelope becomes a dead letter."""
        box.pending -= 1
        if timer is not None:
            timer.cancel()
        if future is not None:
            self._waiting.discard(future)
        self._fail(envelope, future, error)

    def _fail(
        self, envelope: Envelope, future: asyncio.Future[Message] | None, error: Exception
    ) -> None:
        if future is not None:
            if not future.done():
                future.set_exception(error)
            return
        log.warning("one-way envelope %s to %s failed: %s", envelope.id, envelope.recipient, error)
        self.dead_letters.append(DeadLetter(envelope, error, time.time()))


async def reply_within(
    future: asyncio.Future[Message], recipient: str, limit: float | None
) -> Message:
    """The reply `future` will hold, or `DeadlineExceeded` after `limit` seconds."""
    if limit is None:
        return await future
    # asyncio.wait, not wait_for: a TimeoutError the handler itself raised must reach the
    # caller as what it is, not pass for a missed deadline.
    await asyncio.wait((future,), timeout=limit)
    if not future.done():
        raise DeadlineExceeded(recipient, limit)
    return future.result()


def _expire(future: asyncio.Future[Message], recipient: str, limit: float) -> None:
    """A request's deadline passed with no reply: the caller gets `DeadlineExceeded`, and
    the queued envelope, its future done, is skipped unhandled."""
    if not future.done():
        future.set_exception(DeadlineExceeded(recipient, limit))


def _seconds_left(deadline: float | None, timeout: float | None) -> float | None:
    if deadline is None:
        return timeout
    left = max(0.0, deadline - time.time())
    return left if timeout is None else min(left, timeout)
