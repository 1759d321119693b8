"""LocalTransport: delivery, replies, failures, priorities, deadlines, pub-sub and shutdown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from lamas.errors import (
    DeadlineExceeded,
    DeliveryError,
    DuplicateAgent,
    TransportClosed,
    UnknownAgent,
)
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Reply
from lamas.runtime.transport import DeadLetter, LocalTransport


class Boom(Exception):
    """A handler's own failure, to check that it reaches the caller unchanged."""


def env(recipient: str, text: str = "hi", *, sender: str = "tester", **fields: Any) -> Envelope:
    return Envelope(sender=sender, recipient=recipient, message=Message.of_text(text), **fields)


async def echo(envelope: Envelope, context: Context) -> Reply:
    return Message.of_text(f"{context.agent_id}:{envelope.message.text}")


async def settle(transport: LocalTransport, *agent_ids: str, rounds: int = 200) -> None:
    """Let the event loop run until the named mailboxes are empty and idle."""
    for _ in range(rounds):
        if all(transport.load(a) == 0 for a in agent_ids):
            await asyncio.sleep(0)  # let the worker tasks finish
            return
        await asyncio.sleep(0)
    raise AssertionError(f"mailboxes {agent_ids} did not drain")


class Gate:
    """A handler that records what it sees; envelopes whose text is in `hold`
    block until `release()` is called."""

    def __init__(self, *hold: str) -> None:
        self.hold = set(hold)
        self.seen: list[str] = []
        self.started = asyncio.Event()
        self._release = asyncio.Event()

    async def __call__(self, envelope: Envelope, context: Context) -> Reply:
        text = envelope.message.text
        self.seen.append(text)
        if text in self.hold:
            self.started.set()
            await self._release.wait()
        return Message.of_text(f"done:{text}")

    def release(self) -> None:
        self._release.set()


# --- request / reply and one-way -----------------------------------------------


async def test_request_gets_the_reply() -> None:
    transport = LocalTransport()
    transport.register("echo", echo)
    reply = await transport.request(env("echo", "ping"))
    assert reply.text == "echo:ping"
    assert "echo" in transport
    assert "other" not in transport


async def test_request_with_enough_time_gets_the_reply() -> None:
    transport = LocalTransport()
    transport.register("echo", echo)
    reply = await transport.request(env("echo", "x", deadline=time.time() + 5), timeout=5)
    assert reply.text == "echo:x"


async def test_post_runs_the_handler() -> None:
    transport = LocalTransport()
    gate = Gate()
    transport.register("a", gate)
    await transport.post(env("a", "one-way", mode="async"))
    assert transport.load("a") == 1  # queued; the caller did not wait for it
    await settle(transport, "a")
    assert gate.seen == ["one-way"]
    assert list(transport.dead_letters) == []


async def test_handler_exception_reaches_the_requester_with_its_type() -> None:
    transport = LocalTransport()
    raised = Boom("no rooms left")

    async def failing(envelope: Envelope, context: Context) -> Reply:
        raise raised

    transport.register("a", failing)
    with pytest.raises(Boom) as caught:
        await transport.request(env("a"))
    assert caught.value is raised
    with pytest.raises(Boom):
        await transport.request(env("a"), timeout=5)
    assert list(transport.dead_letters) == []  # the requester got it; it is not lost


async def test_handler_timeout_error_without_timeout_keeps_its_type() -> None:
    transport = LocalTransport()

    async def failing(envelope: Envelope, context: Context) -> Reply:
        raise TimeoutError("the upstream API timed out")

    transport.register("a", failing)
    with pytest.raises(TimeoutError, match="upstream"):
        await transport.request(env("a"))


async def test_handler_timeout_error_with_timeout_keeps_its_type() -> None:
    transport = LocalTransport()

    async def failing(envelope: Envelope, context: Context) -> Reply:
        raise TimeoutError("the upstream API timed out")

    transport.register("a", failing)
    with pytest.raises(TimeoutError, match="upstream"):
        await transport.request(env("a"), timeout=5)


async def test_failed_post_lands_in_dead_letters() -> None:
    transport = LocalTransport()
    raised = Boom("disk full")

    async def failing(envelope: Envelope, context: Context) -> Reply:
        raise raised

    transport.register("a", failing)
    envelope = env("a", mode="async")
    before = time.time()
    await transport.post(envelope)
    await settle(transport, "a")
    assert len(transport.dead_letters) == 1
    letter = transport.dead_letters[0]
    assert isinstance(letter, DeadLetter)
    assert letter.envelope is envelope
    assert letter.error is raised
    assert before <= letter.at <= time.time()


async def test_request_answered_with_none_is_a_delivery_error() -> None:
    transport = LocalTransport()

    async def silent(envelope: Envelope, context: Context) -> Reply:
        return None

    transport.register("quiet", silent)
    envelope = env("quiet")
    with pytest.raises(DeliveryError) as caught:
        await transport.request(envelope)
    assert "'quiet'" in str(caught.value)
    assert "no reply" in str(caught.value)
    assert envelope.id in str(caught.value)


# --- membership ----------------------------------------------------------------


async def test_unknown_recipient() -> None:
    transport = LocalTransport()
    with pytest.raises(UnknownAgent) as caught:
        await transport.request(env("nobody"))
    assert caught.value.agent_id == "nobody"
    assert "'nobody'" in str(caught.value)
    with pytest.raises(UnknownAgent):
        await transport.post(env("nobody"))
    with pytest.raises(UnknownAgent):
        transport.load("nobody")


async def test_duplicate_register() -> None:
    transport = LocalTransport()
    transport.register("a", echo)
    with pytest.raises(DuplicateAgent) as caught:
        transport.register("a", echo)
    assert caught.value.agent_id == "a"
    assert (await transport.request(env("a", "still"))).text == "a:still"  # first one kept


def test_concurrency_must_be_positive() -> None:
    transport = LocalTransport()
    with pytest.raises(ValueError, match="concurrency"):
        transport.register("a", echo, concurrency=0)
    assert "a" not in transport


async def test_unregister_fails_queued_requests() -> None:
    transport = LocalTransport()
    gate = Gate("first")
    transport.register("a", gate, concurrency=1)
    in_flight = asyncio.create_task(transport.request(env("a", "first")))
    await gate.started.wait()
    queued = [asyncio.create_task(transport.request(env("a", f"q{i}"))) for i in range(3)]
    await asyncio.sleep(0)
    assert transport.load("a") == 4
    transport.unregister("a")
    for task in queued:
        with pytest.raises(UnknownAgent):
            await task
    assert "a" not in transport
    with pytest.raises(UnknownAgent):
        await transport.request(env("a"))
    with pytest.raises(UnknownAgent):
        transport.unregister("a")
    gate.release()
    assert (await in_flight).text == "done:first"  # what had started still finishes
    assert gate.seen == ["first"]


async def test_unregister_stops_delivery_of_queued_posts() -> None:
    transport = LocalTransport()
    gate = Gate("first")
    transport.register("a", gate, concurrency=1)
    await transport.post(env("a", "first"))
    await gate.started.wait()
    await transport.post(env("a", "second"))
    transport.unregister("a")
    gate.release()
    for _ in range(20):
        await asyncio.sleep(0)
    assert gate.seen == ["first"]


@pytest.mark.parametrize("how", ["unregister", "close"])
async def test_what_an_idle_agent_was_handed_but_not_yet_started_is_evicted_too(how: str) -> None:
    """An envelope to an idle agent goes straight to a new worker, not through the queue:
    removing the agent (or closing) before that worker runs must still fail the request
    and keep the post as a dead letter, never handle them."""
    transport = LocalTransport()
    gate = Gate()
    transport.register("a", gate)
    await transport.post(env("a", "post"))
    asked = transport.send(env("a", "request"))
    assert transport.load("a") == 2
    if how == "unregister":
        transport.unregister("a")
        expected: type[Exception] = UnknownAgent
    else:
        await transport.close()
        expected = TransportClosed
    with pytest.raises(expected):
        await asked
    for _ in range(10):
        await asyncio.sleep(0)
    assert gate.seen == []
    assert [d.envelope.message.text for d in transport.dead_letters] == ["post"]
    assert isinstance(transport.dead_letters[0].error, expected)
    if how == "close":
        assert transport.load("a") == 0


# --- priorities and ordering -----------------------------------------------------


async def test_priority_nine_overtakes_queued_priority_zero() -> None:
    transport = LocalTransport()
    gate = Gate("first")
    transport.register("a", gate, concurrency=1)
    await transport.post(env("a", "first"))
    await gate.started.wait()  # the first envelope is being handled
    for i in range(4):
        await transport.post(env("a", f"low{i}", priority=0))
    await transport.post(env("a", "urgent", priority=9))
    assert transport.load("a") == 6
    gate.release()
    await settle(transport, "a")
    assert gate.seen == ["first", "urgent", "low0", "low1", "low2", "low3"]


async def test_mixed_priorities_are_served_highest_first_then_fifo() -> None:
    transport = LocalTransport()
    gate = Gate("first")
    transport.register("a", gate, concurrency=1)
    await transport.post(env("a", "first"))
    await gate.started.wait()
    for text, priority in [("p1a", 1), ("p5a", 5), ("p1b", 1), ("p9", 9), ("p5b", 5)]:
        await transport.post(env("a", text, priority=priority))
    gate.release()
    await settle(transport, "a")
    assert gate.seen == ["first", "p9", "p5a", "p5b", "p1a", "p1b"]


async def test_requests_are_ordered_by_priority_too() -> None:
    transport = LocalTransport()
    gate = Gate("first")
    transport.register("a", gate, concurrency=1)
    first = asyncio.create_task(transport.request(env("a", "first")))
    await gate.started.wait()
    low = asyncio.create_task(transport.request(env("a", "low", priority=0)))
    await asyncio.sleep(0)
    high = asyncio.create_task(transport.request(env("a", "high", priority=9)))
    await asyncio.sleep(0)
    gate.release()
    replies = await asyncio.gather(first, low, high)
    assert [r.text for r in replies] == ["done:first", "done:low", "done:high"]
    assert gate.seen == ["first", "high", "low"]


async def test_equal_priorities_are_fifo() -> None:
    transport = LocalTransport()
    gate = Gate("first")
    transport.register("a", gate, concurrency=1)
    await transport.post(env("a", "first", priority=3))
    await gate.started.wait()
    texts = [f"m{i}" for i in range(10)]
    for text in texts:
        await transport.post(env("a", text, priority=3))
    gate.release()
    await settle(transport, "a")
    assert gate.seen == ["first", *texts]


async def test_concurrency_limit_is_respected() -> None:
    transport = LocalTransport()
    running = 0
    peak = 0

    async def busy(envelope: Envelope, context: Context) -> Reply:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(5):
            await asyncio.sleep(0)
        running -= 1
        return Message.of_text(envelope.message.text)

    transport.register("a", busy, concurrency=3)
    replies = await asyncio.gather(*(transport.request(env("a", str(i))) for i in range(12)))
    assert [r.text for r in replies] == [str(i) for i in range(12)]
    assert peak == 3
    assert transport.load("a") == 0


async def test_default_concurrency_runs_handlers_in_parallel() -> None:
    transport = LocalTransport()
    gate = Gate(*(str(i) for i in range(5)))
    transport.register("a", gate)
    tasks = [asyncio.create_task(transport.request(env("a", str(i)))) for i in range(5)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert sorted(gate.seen) == [str(i) for i in range(5)]  # all started, none finished
    assert transport.load("a") == 5
    gate.release()
    await asyncio.gather(*tasks)
    assert transport.load("a") == 0


async def test_cancelled_queued_request_is_skipped() -> None:
    transport = LocalTransport()
    gate = Gate("first")
    transport.register("a", gate, concurrency=1)
    await transport.post(env("a", "first"))
    await gate.started.wait()
    waiting = asyncio.create_task(transport.request(env("a", "cancelled")))
    await asyncio.sleep(0)
    waiting.cancel()
    await transport.post(env("a", "after"))
    gate.release()
    await settle(transport, "a")
    assert waiting.cancelled()
    assert gate.seen == ["first", "after"]


# --- deadlines -------------------------------------------------------------------


async def test_slow_handler_exceeds_timeout() -> None:
    transport = LocalTransport()
    gate = Gate("slow")
    transport.register("a", gate)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        await transport.request(env("a", "slow"), timeout=0.05)
    assert time.monotonic() - started < 1.0
    assert caught.value.recipient == "a"
    assert caught.value.seconds == pytest.approx(0.05)
    assert "'a'" in str(caught.value)
    gate.release()
    await settle(transport, "a")


async def test_sleeping_handler_exceeds_timeout() -> None:
    transport = LocalTransport()

    async def sleepy(envelope: Envelope, context: Context) -> Reply:
        await asyncio.sleep(0.2)
        return Message.of_text("late")

    transport.register("a", sleepy)
    with pytest.raises(DeadlineExceeded):
        await transport.request(env("a"), timeout=0.02)
    await asyncio.sleep(0.2)  # let the handler finish before the loop closes
    await settle(transport, "a")


async def test_absolute_deadline_bounds_the_wait() -> None:
    transport = LocalTransport()
    gate = Gate("slow")
    transport.register("a", gate)
    with pytest.raises(DeadlineExceeded):
        await transport.request(env("a", "slow", deadline=time.time() + 0.05))
    gate.release()
    await settle(transport, "a")


async def test_passed_deadline_is_refused_without_running_the_handler() -> None:
    transport = LocalTransport()
    gate = Gate()
    transport.register("a", gate)
    with pytest.raises(DeadlineExceeded):
        await transport.request(env("a", deadline=time.time() - 1))
    with pytest.raises(DeadlineExceeded):
        await transport.request(env("a", deadline=time.time() - 1), timeout=10)
    await settle(transport, "a")
    assert gate.seen == []


async def test_post_past_its_deadline_is_a_dead_letter() -> None:
    transport = LocalTransport()
    gate = Gate()
    transport.register("a", gate)
    await transport.post(env("a", deadline=time.time() - 1))
    await settle(transport, "a")
    assert gate.seen == []
    assert len(transport.dead_letters) == 1
    assert isinstance(transport.dead_letters[0].error, DeadlineExceeded)


# --- publish / subscribe ---------------------------------------------------------


async def test_publish_reaches_every_subscriber() -> None:
    transport = LocalTransport()
    gates = {name: Gate() for name in ("a", "b", "c")}
    for name, gate in gates.items():
        transport.register(name, gate)
    transport.subscribe("news", "a")
    transport.subscribe("news", "b")
    transport.subscribe("news", "b")  # subscribing twice counts once
    count = await transport.publish(env("news", "headline", kind="event"))
    assert count == 2
    await settle(transport, "a", "b", "c")
    assert gates["a"].seen == ["headline"]
    assert gates["b"].seen == ["headline"]
    assert gates["c"].seen == []
    assert await transport.publish(env("sports", "nobody listens")) == 0


async def test_subscribe_unknown_agent() -> None:
    transport = LocalTransport()
    with pytest.raises(UnknownAgent):
        transport.subscribe("news", "ghost")


async def test_unregister_unsubscribes() -> None:
    transport = LocalTransport()
    gate = Gate()
    transport.register("a", gate)
    transport.register("b", echo)
    transport.subscribe("news", "a")
    transport.subscribe("news", "b")
    transport.unregister("b")
    assert await transport.publish(env("news", "x")) == 1
    await settle(transport, "a")
    assert gate.seen == ["x"]


# --- shutdown --------------------------------------------------------------------


async def test_close_fails_queued_requests_and_refuses_new_ones() -> None:
    transport = LocalTransport()
    gate = Gate("first")
    transport.register("a", gate, concurrency=1)
    in_flight = asyncio.create_task(transport.request(env("a", "first")))
    await gate.started.wait()
    queued = [asyncio.create_task(transport.request(env("a", f"q{i}"))) for i in range(2)]
    await asyncio.sleep(0)
    await transport.close()
    for task in queued:
        with pytest.raises(TransportClosed, match="closed"):
            await task
    with pytest.raises(TransportClosed):
        await transport.request(env("a", "late"))
    with pytest.raises(TransportClosed):
        await transport.post(env("a", "late"))
    gate.release()
    await asyncio.gather(in_flight, return_exceptions=True)
    assert gate.seen == ["first"]


async def test_close_fails_in_flight_requests() -> None:
    transport = LocalTransport()
    gate = Gate("first")
    transport.register("a", gate)
    in_flight = asyncio.create_task(transport.request(env("a", "first")))
    await gate.started.wait()
    await transport.close()
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert in_flight.done()
        with pytest.raises(TransportClosed):
            in_flight.result()
    finally:
        gate.release()
        await asyncio.gather(in_flight, return_exceptions=True)


async def test_publish_after_close_is_refused() -> None:
    transport = LocalTransport()
    gate = Gate()
    transport.register("a", gate)
    transport.subscribe("news", "a")
    await transport.close()
    try:
        with pytest.raises(TransportClosed):
            await transport.publish(env("news", "late"))
    finally:
        await settle(transport, "a")
    assert gate.seen == []


# --- handlers talking to each other -------------------------------------------------


async def test_nested_requests_through_the_context() -> None:
    transport = LocalTransport()
    senders: dict[str, str] = {}

    def relay(next_hop: str | None) -> Any:
        async def handle(envelope: Envelope, context: Context) -> Reply:
            senders[context.agent_id] = envelope.sender
            here = f"{context.agent_id}({envelope.message.text})"
            if next_hop is None:
                return Message.of_text(here)
            onward = Envelope(
                sender=context.agent_id,
                recipient=next_hop,
                task_id=envelope.task_id,
                message=Message.of_text(here),
            )
            reply = await context.request(onward, timeout=5)
            return Message.of_text(f"{reply.text}<-{context.agent_id}")

        return handle

    transport.register("a", relay("b"), concurrency=1)
    transport.register("b", relay("c"), concurrency=1)
    transport.register("c", relay(None), concurrency=1)
    reply = await transport.request(env("a", "go", task_id="t1"))
    assert reply.text == "c(b(a(go)))<-b<-a"
    assert senders == {"a": "tester", "b": "a", "c": "b"}


async def test_handler_can_post_through_the_context() -> None:
    transport = LocalTransport()
    gate = Gate()

    async def forwarder(envelope: Envelope, context: Context) -> Reply:
        await context.post(
            Envelope(sender=context.agent_id, recipient="sink", message=envelope.message)
        )
        return Message.of_text("forwarded")

    transport.register("fwd", forwarder)
    transport.register("sink", gate)
    assert (await transport.request(env("fwd", "parcel"))).text == "forwarded"
    await settle(transport, "sink")
    assert gate.seen == ["parcel"]


async def test_close_keeps_queued_posts_as_dead_letters() -> None:
    from lamas.errors import TransportClosed
    from lamas.protocol import Envelope, Message

    release = asyncio.Event()

    async def slow(envelope: Envelope, context: object) -> None:
        await release.wait()

    transport = LocalTransport()
    transport.register("slow", slow, concurrency=1)
    for _ in range(3):
        await transport.post(Envelope(sender="x", recipient="slow", message=Message.of_text("e")))
    await asyncio.sleep(0)  # the first is now being handled; two stay queued
    await transport.close()
    release.set()
    assert len(transport.dead_letters) == 2
    assert all(isinstance(d.error, TransportClosed) for d in transport.dead_letters)
