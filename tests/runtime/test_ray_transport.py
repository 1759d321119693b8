"""RayTransport on a real local Ray session: two shard actors hosting many agents each.

One Ray session and one pair of shards serve the whole module (Ray starts in seconds,
not milliseconds); each test uses its own driver-side transport and its own agents
or counters, so tests do not depend on each other's traffic.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lamas.errors import (
    AccessDenied,
    ConfigError,
    DeadlineExceeded,
    DeliveryError,
    TransportClosed,
    UnknownAgent,
)
from lamas.protocol import Context, Envelope, Message
from lamas.runtime.policy import Rule, RulePolicy
from lamas.runtime.sharding import Placement

ray = pytest.importorskip("ray", reason="the Ray runtime needs `pip install lamas[ray]`")

from lamas.runtime.ray_runtime import RayRuntime, connect  # noqa: E402
from lamas.runtime.ray_transport import RayTransport  # noqa: E402

pytestmark = pytest.mark.ray

AGENTS = 40


@dataclass(frozen=True)
class Hosts:
    """The module's agents `a0`..`a39` (and a pinned `hub`), each on its placed shard."""

    agents: int

    def __call__(self, transport: RayTransport) -> None:
        received: dict[str, int] = {}
        ids = [f"a{i}" for i in range(self.agents)] + ["hub"]
        for agent_id in ids:
            if transport.placement(agent_id) != transport.home:
                continue

            async def handle(
                envelope: Envelope, context: Context, me: str = agent_id
            ) -> Message | None:
                data = envelope.message.data
                if envelope.skill == "where":
                    return Message.of_data({"agent": me, "shard": transport.home})
                if envelope.skill == "echo":
                    return Message.of_text(f"{me} got {envelope.message.text}")
                if envelope.skill == "relay":  # ask another agent, maybe on another shard
                    reply = await context.request(
                        Envelope(
                            sender=me,
                            recipient=data["to"],
                            skill="echo",
                            message=Message.of_text(data["text"]),
                        )
                    )
                    return Message.of_text(f"{me} relayed: {reply.text}")
                if envelope.skill == "fan-out":  # one-way envelopes to many agents
                    for target in data["to"]:
                        await context.post(
                            Envelope(
                                sender=me,
                                recipient=target,
                                skill="count",
                                mode="async",
                                message=Message.of_data({"key": data["key"]}),
                            )
                        )
                    return Message.of_text("sent")
                if envelope.skill == "count":
                    key = f"{me}/{data['key']}"
                    received[key] = received.get(key, 0) + 1
                    return None
                if envelope.skill == "received":
                    return Message.of_data({"n": received.get(f"{me}/{data['key']}", 0)})
                if envelope.skill == "fail":
                    raise ValueError(f"{me} was asked to fail")
                if envelope.skill == "sleep":
                    await asyncio.sleep(data["seconds"])
                    return Message.of_text("awake")
                raise LookupError(f"no skill {envelope.skill}")

            transport.register(agent_id, handle)
        # Nobody may send to a0 with the `forbidden` skill (checked where it is delivered).
        transport.policy = RulePolicy(
            [
                Rule("*", "*", skill)
                for skill in (
                    "where",
                    "echo",
                    "relay",
                    "fan-out",
                    "count",
                    "received",
                    "fail",
                    "sleep",
                )
            ]
        )


@pytest.fixture(scope="module")
def runtime() -> Iterator[RayRuntime]:
    # Shard processes import this module's classes by value: they are not installed.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    connect()
    started = RayRuntime.start(Hosts(AGENTS), shards=2, pinned={"hub": 1}, max_batch=64)
    yield started
    started.stop()
    ray.shutdown()


def ask(skill: str, to: str, data: dict[str, Any] | None = None, text: str = "") -> Envelope:
    message = Message.of_data(data) if data is not None else Message.of_text(text)
    return Envelope(sender="user", recipient=to, skill=skill, message=message)


def ids() -> list[str]:
    return [f"a{i}" for i in range(AGENTS)]


def test_placement_is_a_stable_hash_with_pins() -> None:
    placement = Placement(2, {"hub": 1})
    assert placement("hub") == 1
    # crc32, the same in every process and every run (str hash() is salted per process).
    assert [placement(f"a{i}") for i in range(6)] == [Placement(2)(f"a{i}") for i in range(6)]
    assert placement("a0") == zlib.crc32(b"a0") % 2
    with pytest.raises(ConfigError, match=r"outside 0\.\.1"):
        Placement(2, {"x": 2})
    with pytest.raises(ConfigError, match="at least 1 shard"):
        Placement(0)


async def test_each_agent_lives_on_the_shard_its_id_hashes_to(runtime: RayRuntime) -> None:
    transport = runtime.transport()
    replies = await asyncio.gather(*(transport.request(ask("where", i, {})) for i in ids()))
    where = {r.data["agent"]: r.data["shard"] for r in replies}
    assert where == {i: runtime.placement(i) for i in ids()}
    assert set(where.values()) == {0, 1}  # both shards host agents
    assert (await transport.request(ask("where", "hub", {}))).data["shard"] == 1  # pinned
    assert sum(runtime.agents) == AGENTS + 1


async def test_requests_to_one_shard_in_one_turn_travel_in_batches(runtime: RayRuntime) -> None:
    transport = runtime.transport()
    replies = await asyncio.gather(
        *(transport.request(ask("echo", i, text=f"hi {i}")) for i in ids() * 5)
    )
    assert [r.text for r in replies] == [f"{i} got hi {i}" for i in ids() * 5]
    assert transport.envelopes_sent == 200
    # 200 requests, max_batch 64, two shards: a handful of actor calls, not 200.
    assert 4 <= transport.batches_sent <= 6


async def test_a_request_from_one_shard_to_another_is_answered(runtime: RayRuntime) -> None:
    transport = runtime.transport()
    a, b = next(i for i in ids() if runtime.placement(i) == 0), "hub"
    reply = await transport.request(ask("relay", a, {"to": b, "text": "ping"}))
    assert reply.text == f"{a} relayed: hub got ping"
    reply = await transport.request(ask("relay", b, {"to": a, "text": "pong"}))
    assert reply.text == f"hub relayed: {a} got pong"


async def test_posts_reach_agents_on_every_shard(runtime: RayRuntime) -> None:
    transport = runtime.transport()
    for agent_id in ids():
        for _ in range(3):
            await transport.post(
                ask("count", agent_id, {"key": "posts"}).model_copy(update={"mode": "async"})
            )
    await transport.drain()
    # From inside a shard too: the hub posts to every agent (half of them on the other shard).
    await transport.request(ask("fan-out", "hub", {"to": ids(), "key": "posts"}))
    await asyncio.gather(*(s.drain.remote() for s in runtime.shards))
    counts = await asyncio.gather(
        *(transport.request(ask("received", i, {"key": "posts"})) for i in ids())
    )
    assert [c.data["n"] for c in counts] == [4] * AGENTS
    assert transport.batches_sent <= 4 + 2  # 120 posts in batches of 64 per shard, and reads


async def test_publish_reaches_subscribers_on_every_shard(runtime: RayRuntime) -> None:
    transport = runtime.transport()
    members = ids()[:10]
    for agent_id in members:
        await transport.join("news", agent_id)
    assert {runtime.placement(m) for m in members} == {0, 1}
    delivered = await transport.publish(
        Envelope(
            sender="user",
            recipient="news",
            skill="count",
            mode="async",
            kind="event",
            message=Message.of_data({"key": "news"}),
        )
    )
    assert delivered == 10
    await asyncio.gather(*(s.drain.remote() for s in runtime.shards))
    await asyncio.sleep(0.05)  # the handlers run after the envelopes are queued
    counts = await asyncio.gather(
        *(transport.request(ask("received", i, {"key": "news"})) for i in ids()[:12])
    )
    assert [c.data["n"] for c in counts] == [1] * 10 + [0, 0]
    with pytest.raises(UnknownAgent, match="'ghost'"):
        await transport.join("news", "ghost")


async def test_an_unknown_agent_is_a_clear_error(runtime: RayRuntime) -> None:
    transport = runtime.transport()
    with pytest.raises(UnknownAgent, match="no agent 'ghost' is registered") as caught:
        await transport.request(ask("echo", "ghost", text="hello?"))
    assert caught.value.agent_id == "ghost"
    # A post has no one waiting: the refusal comes back and is kept as a dead letter.
    await transport.post(ask("count", "ghost", {"key": "x"}).model_copy(update={"mode": "async"}))
    await transport.drain()
    assert [d.envelope.recipient for d in transport.dead_letters] == ["ghost"]
    assert isinstance(transport.dead_letters[0].error, UnknownAgent)
    # A driver that knows every hosted id refuses at once, without a round trip.
    known = runtime.transport(directory=[*ids(), "hub"])
    with pytest.raises(UnknownAgent):
        await known.post(ask("count", "ghost", {"key": "x"}))
    assert known.batches_sent == 0
    assert "a0" in known
    assert "ghost" not in known


async def test_errors_cross_shards_as_what_they_are(runtime: RayRuntime) -> None:
    transport = runtime.transport()
    with pytest.raises(ValueError, match="a3 was asked to fail"):
        await transport.request(ask("fail", "a3", {}))
    with pytest.raises(AccessDenied) as caught:  # the shard's policy refuses this skill
        await transport.request(ask("forbidden", "a0", {}))
    assert (caught.value.sender, caught.value.recipient) == ("user", "a0")
    with pytest.raises(DeadlineExceeded):
        await transport.request(ask("sleep", "a5", {"seconds": 2}), timeout=0.2)
    # The transport still works after all that.
    assert (await transport.request(ask("echo", "a5", text="ok"))).text == "a5 got ok"


async def test_a_detached_transport_keeps_what_it_could_not_send(runtime: RayRuntime) -> None:
    transport = runtime.transport()
    transport.detach()  # what RayRuntime.stop() does to the transports it handed out
    await transport.post(ask("count", "a1", {"key": "late"}).model_copy(update={"mode": "async"}))
    with pytest.raises(DeliveryError, match="stopped before this batch left"):
        await transport.request(ask("echo", "a1", text="late"))
    await transport.drain()
    assert [d.envelope.recipient for d in transport.dead_letters] == ["a1"]
    assert "stopped before this batch left" in str(transport.dead_letters[0].error)
    with pytest.raises(TransportClosed):
        await transport.join("news", "a1")
