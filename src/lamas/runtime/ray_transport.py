"""`RayTransport`: a `LocalTransport` for the agents of this process that routes every other
envelope to the Ray actor (shard) hosting its recipient, in batches.

One Ray actor per agent would cost a process (about 40 MiB) per agent. Instead each
shard actor holds one `RayTransport` serving thousands of agents, and `Placement`
says which shard hosts an id (a stable hash), so any process routes any envelope
by itself. Envelopes for another shard are not sent one by one: those queued for
the same shard during one turn of the event loop leave together in one actor call,
up to `max_batch` each. A batch of requests is answered as a whole (its replies come
back together); one-way envelopes are acknowledged once queued at their recipient,
and any that could not be (unknown agent, access refused) become dead letters here.

The driver (the process that started the run) holds a `RayTransport` with no shard
of its own (`home=None`): its local agents, such as an orchestrator built by code,
reach every shard, but shards cannot call them back (they hold no handle on the
driver). The access policy is enforced where an envelope is delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Sequence
from typing import Any

from lamas.errors import DeliveryError, TransportClosed, UnknownAgent
from lamas.protocol.messages import Envelope, Message
from lamas.runtime.sharding import Placement, RemoteError, pack
from lamas.runtime.transport import (
    AccessPolicy,
    DeadLetter,
    LocalTransport,
    _seconds_left,
    reply_within,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH = 4096
"""Envelopes per actor call at most: large enough to amortise a call (~0.1-0.3 ms), small
enough that a fan-out of 100,000 keeps both shards busy instead of one at a time."""

_Request = tuple[Envelope, float | None, "asyncio.Future[Message]"]


class RayTransport(LocalTransport):
    """Serves the agents registered here; sends the rest to their shards through `peers`
    (Ray actor handles of `lamas.runtime.ray_shard.Shard`, one per shard index)."""

    def __init__(
        self,
        peers: Sequence[Any],
        placement: Placement,
        *,
        home: int | None = None,
        policy: AccessPolicy | None = None,
        max_batch: int = DEFAULT_BATCH,
        directory: Collection[str] | None = None,
    ) -> None:
        super().__init__(policy=policy)
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.peers = list(peers)
        self.placement = placement
        self.home = home
        self.max_batch = max_batch
        self.directory: set[str] | None = set(directory) if directory is not None else None
        """Every id hosted on some shard, when known: sends to others fail at once here."""
        self._posts: dict[int, list[Envelope]] = {}
        self._requests: dict[int, list[_Request]] = {}
        self._scheduled: set[int] = set()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._detached = False
        self.batches_sent = 0
        self.envelopes_sent = 0

    def __contains__(self, agent_id: object) -> bool:
        if agent_id in self._boxes:
            return True
        return self.directory is not None and agent_id in self.directory

    def shard_of(self, agent_id: str) -> int | None:
        """The shard an envelope to `agent_id` goes to; None if it is served here."""
        return None if agent_id in self._boxes else self.placement(agent_id)

    # --- sending ------------------------------------------------------------

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        if envelope.recipient in self._boxes or self._closed:
            return await super().request(envelope, timeout=timeout)
        envelope = self._signed(envelope)
        shard = self._remote(envelope)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting.add(future)
        limit = _seconds_left(envelope.deadline, timeout)
        try:
            self._queue_request(shard, (envelope, limit, future))
            return await reply_within(future, envelope.recipient, limit)
        finally:
            future.cancel()
            self._waiting.discard(future)

    async def post(self, envelope: Envelope) -> None:
        if envelope.recipient in self._boxes or self._closed:
            await super().post(envelope)
            return
        envelope = self._signed(envelope)
        shard = self._remote(envelope)
        posts = self._posts.setdefault(shard, [])
        posts.append(envelope)
        self._schedule(shard, len(posts))

    async def publish(self, envelope: Envelope) -> int:
        """Deliver to every subscriber of the topic, here and on every other shard."""
        envelope = self._signed(envelope)
        delivered = await super().publish(envelope)
        self._check_attached()
        others = [p for i, p in enumerate(self.peers) if i != self.home]
        counts = await asyncio.gather(*(peer.publish.remote(envelope) for peer in others))
        for count in counts:
            if isinstance(count, RemoteError):
                raise count.rebuild()
            delivered += count
        return delivered

    async def join(self, topic: str, agent_id: str) -> None:
        """Subscribe `agent_id` to `topic`, wherever it is hosted."""
        shard = self.shard_of(agent_id)
        if shard is None or shard == self.home:
            self.subscribe(topic, agent_id)
            return
        self._check_attached()
        error = await self.peers[shard].subscribe.remote(topic, agent_id)
        if error is not None:
            raise error.rebuild()

    async def drain(self) -> None:
        """Wait until every envelope sent so far has reached its shard (posts queued there,
        requests answered)."""
        for shard in tuple(self._scheduled):
            self._flush(shard)
        while self._in_flight:
            await asyncio.gather(*tuple(self._in_flight))

    def detach(self) -> None:
        """The shards are gone (the runtime stopped): what is still queued for them fails
        here instead of being sent."""
        self._detached = True

    async def close(self) -> None:
        await super().close()
        for shard in tuple(self._scheduled):
            self._flush(shard)  # in flight: the shards fail or dead-letter them themselves

    # --- receiving (called by the shard actor) --------------------------------

    def accept_posts(self, batch: Sequence[Envelope]) -> list[tuple[int, RemoteError]]:
        """Queue each envelope for its agent here; returns the ones refused, by index."""
        refused: list[tuple[int, RemoteError]] = []
        for index, envelope in enumerate(batch):
            try:
                self._enqueue(self._admit(envelope), envelope, None)
            except Exception as error:  # the sender keeps it as a dead letter
                refused.append((index, RemoteError.of(error)))
        return refused

    async def accept_requests(
        self, batch: Sequence[Envelope], limits: Sequence[float | None]
    ) -> list[Message | RemoteError]:
        """Deliver each request to its agent here and gather every reply (or error)."""

        async def answer(envelope: Envelope, limit: float | None) -> Message | RemoteError:
            try:
                return await LocalTransport.request(self, envelope, timeout=limit)
            except Exception as error:  # the caller gets it, raised as what it was
                return RemoteError.of(error)

        return list(
            await asyncio.gather(*(answer(e, t) for e, t in zip(batch, limits, strict=True)))
        )

    def accept_publish(self, envelope: Envelope) -> int | RemoteError:
        """Deliver to the subscribers here only (the publisher asks every shard itself)."""
        try:
            if self._closed:
                raise TransportClosed("transport is closed")
            if self.policy is not None:
                self.policy.check(envelope)
            members = self._topics.get(envelope.recipient, [])
            for member in members:
                self._enqueue(self._boxes[member], envelope, None)
            return len(members)
        except Exception as error:
            return RemoteError.of(error)

    # --- internals ----------------------------------------------------------

    def _remote(self, envelope: Envelope) -> int:
        recipient = envelope.recipient
        shard = self.placement(recipient)
        if shard == self.home or (self.directory is not None and recipient not in self.directory):
            raise UnknownAgent(recipient)
        for observe in self.observers:
            observe(envelope)
        return shard

    def _queue_request(self, shard: int, request: _Request) -> None:
        requests = self._requests.setdefault(shard, [])
        requests.append(request)
        self._schedule(shard, len(requests))

    def _schedule(self, shard: int, queued: int) -> None:
        if queued >= self.max_batch:
            self._flush(shard)
        elif shard not in self._scheduled:
            # Everything queued for this shard until the loop's next turn goes in one call.
            self._scheduled.add(shard)
            asyncio.get_running_loop().call_soon(self._flush, shard)

    def _flush(self, shard: int) -> None:
        self._scheduled.discard(shard)
        posts = self._posts.pop(shard, None)
        requests = self._requests.pop(shard, None)
        if posts:
            reply = self._submit(shard, "deliver_posts", pack(posts))
            self._track(self._send_posts(shard, reply, posts))
        if requests:
            calls = pack([envelope for envelope, _, _ in requests])
            limits = [limit for _, limit, _ in requests]
            futures = [future for _, _, future in requests]
            reply = self._submit(shard, "deliver_requests", calls, limits)
            self._track(self._send_requests(shard, reply, futures))

    def _check_attached(self) -> None:
        if self._detached:
            # Not even try: a call after `ray.shutdown()` would start a new Ray session.
            raise TransportClosed("the Ray runtime was stopped before this batch left")

    def _submit(self, shard: int, method: str, *args: Any) -> Any:
        """The actor call's reference, or an awaitable raising why it could not be made
        (so that its envelopes become dead letters or failed requests like any other)."""
        try:
            self._check_attached()
            return getattr(self.peers[shard], method).remote(*args)
        except Exception as error:
            return _raise(error)

    def _track(self, sending: Any) -> None:
        self.batches_sent += 1
        task = asyncio.get_running_loop().create_task(sending)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send_posts(self, shard: int, reply: Any, posts: list[Envelope]) -> None:
        self.envelopes_sent += len(posts)
        try:
            refused: list[tuple[int, RemoteError]] = await reply
        except Exception as error:
            failure = _unreachable(shard, error)
            refused = [(index, RemoteError.of(failure)) for index in range(len(posts))]
        for index, remote in refused:
            envelope, failed = posts[index], remote.rebuild()
            log.warning(
                "one-way envelope %s to %s failed: %s", envelope.id, envelope.recipient, failed
            )
            self.dead_letters.append(DeadLetter(envelope, failed, time.time()))

    async def _send_requests(
        self, shard: int, reply: Any, futures: list[asyncio.Future[Message]]
    ) -> None:
        self.envelopes_sent += len(futures)
        try:
            results: list[Message | RemoteError] = await reply
        except Exception as error:
            failure = _unreachable(shard, error)
            results = [RemoteError.of(failure)] * len(futures)
        for future, result in zip(futures, results, strict=True):
            if future.done():
                continue  # the caller stopped waiting
            if isinstance(result, RemoteError):
                future.set_exception(result.rebuild())
            else:
                future.set_result(result)


async def _raise(error: Exception) -> Any:
    raise error


def _unreachable(shard: int, error: BaseException) -> DeliveryError:
    return DeliveryError(
        f"shard {shard} did not take the batch ({type(error).__name__}: {error}); "
        "its process may have died: check the Ray logs, then restart the run"
    )
