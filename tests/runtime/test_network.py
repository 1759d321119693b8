"""Network: finding agents by capability, balancing replicas, calling, removing, skill routing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lamas.agent import Agent, skill_router
from lamas.errors import NoCapability, SchemaViolation, UnknownAgent
from lamas.protocol.cards import AgentCard, Skill
from lamas.protocol.messages import DataPart, Envelope, Message, TextPart
from lamas.protocol.types import Context, Reply
from lamas.runtime.network import Network


def card(agent_id: str, *skills: str) -> AgentCard:
    return AgentCard(
        id=agent_id,
        name=agent_id.title(),
        entity=f"{agent_id} Ltd",
        skills=tuple(Skill(name=s, description=f"does {s}") for s in skills),
    )


class Recorder:
    """A handler that remembers every envelope and answers with who it is."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.hold: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def __call__(self, envelope: Envelope, context: Context) -> Reply:
        self.envelopes.append(envelope)
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        return Message.of_data({"agent": context.agent_id, "skill": envelope.skill})


def agent(agent_id: str, *skills: str) -> tuple[Agent, Recorder]:
    recorder = Recorder()
    return Agent(card(agent_id, *skills), recorder), recorder


def network(*specs: tuple[str, tuple[str, ...]]) -> tuple[Network, dict[str, Recorder]]:
    recorders: dict[str, Recorder] = {}
    agents = []
    for agent_id, skills in specs:
        made, recorders[agent_id] = agent(agent_id, *skills)
        agents.append(made)
    return Network(agents), recorders


def ids(cards: list[AgentCard]) -> list[str]:
    return [c.id for c in cards]


def test_find_by_capability() -> None:
    net, _ = network(
        ("sun", ("weather",)),
        ("daily", ("weather", "news")),
        ("wire", ("news",)),
    )
    assert ids(net.find("weather")) == ["sun", "daily"]
    assert ids(net.find("news")) == ["daily", "wire"]
    assert net.find("music") == []
    assert net.capabilities() == ["news", "weather"]
    assert net.card("wire").entity == "wire Ltd"
    assert ids(net.cards) == ["sun", "daily", "wire"]
    with pytest.raises(UnknownAgent):
        net.card("ghost")


def test_round_robin_cycles_replicas_in_order() -> None:
    net, _ = network(("r1", ("echo",)), ("r2", ("echo",)), ("r3", ("echo", "other")))
    picks = [net.choose("echo") for _ in range(7)]
    assert picks == ["r1", "r2", "r3", "r1", "r2", "r3", "r1"]
    # each capability keeps its own turn
    assert net.choose("other") == "r3"
    assert net.choose("echo", "round_robin") == "r2"


async def test_least_loaded_picks_the_idle_replica() -> None:
    net, recorders = network(("busy", ("echo",)), ("idle", ("echo",)))
    hold = asyncio.Event()
    recorders["busy"].hold = hold
    blocked = asyncio.create_task(
        net.transport.request(
            Envelope(sender="t", recipient="busy", skill="echo", message=Message.of_text("x"))
        )
    )
    await recorders["busy"].started.wait()
    assert net.transport.load("busy") == 1
    assert net.transport.load("idle") == 0
    try:
        assert net.choose("echo", "least_loaded") == "idle"
        reply = await net.call("echo", Message.of_text("y"), sender="t", balance="least_loaded")
        assert reply.data["agent"] == "idle"
        assert net.choose("echo", "least_loaded") == "idle"  # still the lighter one
    finally:
        hold.set()
        await blocked
    assert net.transport.load("busy") == 0


async def test_least_loaded_follows_the_load() -> None:
    net, recorders = network(("one", ("echo",)), ("two", ("echo",)))
    hold = asyncio.Event()
    recorders["one"].hold = hold
    recorders["two"].hold = hold
    envelope = Envelope(sender="t", recipient="two", message=Message.of_text("x"))
    for _ in range(2):
        await net.transport.post(envelope)
    await net.transport.post(envelope.model_copy(update={"recipient": "one"}))
    assert net.choose("echo", "least_loaded") == "one"  # 1 pending against 2
    hold.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert net.transport.load("one") == net.transport.load("two") == 0


async def test_call_routes_and_sets_the_skill() -> None:
    net, recorders = network(("hotel", ("hotel.book",)), ("train", ("train.book",)))
    reply = await net.call(
        "train.book",
        Message.of_text("Lyon tomorrow", role="user"),
        sender="orchestrator",
        priority=7,
        task_id="task-1",
        context_id="ctx-1",
        timeout=5,
    )
    assert reply.data == {"agent": "train", "skill": "train.book"}
    assert recorders["hotel"].envelopes == []
    (seen,) = recorders["train"].envelopes
    assert seen.skill == "train.book"
    assert seen.recipient == "train"
    assert seen.sender == "orchestrator"
    assert seen.priority == 7
    assert seen.task_id == "task-1"
    assert seen.context_id == "ctx-1"
    assert seen.message.text == "Lyon tomorrow"


async def test_call_spreads_over_replicas() -> None:
    net, recorders = network(("a", ("echo",)), ("b", ("echo",)))
    agents = [
        (await net.call("echo", Message.of_text("x"), sender="t")).data["agent"] for _ in range(4)
    ]
    assert agents == ["a", "b", "a", "b"]
    assert len(recorders["a"].envelopes) == len(recorders["b"].envelopes) == 2


async def test_unknown_capability_lists_the_known_ones() -> None:
    net, _ = network(("a", ("weather",)), ("b", ("news",)))
    with pytest.raises(NoCapability) as caught:
        await net.call("music", Message.of_text("play"), sender="t")
    assert caught.value.capability == "music"
    assert "'music'" in str(caught.value)
    assert "news, weather" in str(caught.value)
    with pytest.raises(NoCapability, match="known: none"):
        Network().choose("music")


async def test_remove_takes_an_agent_out_of_routing() -> None:
    net, recorders = network(("a", ("echo", "solo")), ("b", ("echo",)))
    net.remove("a")
    assert ids(net.find("echo")) == ["b"]
    assert [net.choose("echo") for _ in range(3)] == ["b", "b", "b"]
    assert net.capabilities() == ["echo"]
    assert "a" not in net.transport
    with pytest.raises(NoCapability):
        await net.call("solo", Message.of_text("x"), sender="t")
    reply = await net.call("echo", Message.of_text("x"), sender="t")
    assert reply.data["agent"] == "b"
    assert recorders["a"].envelopes == []
    with pytest.raises(UnknownAgent):
        net.card("a")
    with pytest.raises(UnknownAgent):
        net.remove("a")


async def test_added_agent_joins_the_rotation() -> None:
    net, _ = network(("a", ("echo",)))
    late, _ = agent("b", "echo")
    net.add(late, concurrency=2)
    assert ids(net.find("echo")) == ["a", "b"]
    answers = {
        (await net.call("echo", Message.of_text("x"), sender="t")).data["agent"] for _ in range(2)
    }
    assert answers == {"a", "b"}


# --- skill_router ---------------------------------------------------------------

BOOK_INPUT = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "nights": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}


def hotel() -> tuple[Agent, list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    hotel_card = AgentCard(
        id="hotel",
        name="Hotel",
        entity="Acme",
        skills=(
            Skill(name="hotel.book", description="book a room", input_schema=BOOK_INPUT),
            Skill(name="hotel.search", description="find rooms"),
        ),
    )

    async def book(data: dict[str, Any], envelope: Envelope, context: Context) -> dict[str, Any]:
        calls.append(("book", data))
        return {"confirmation": f"{data['city']}-{data.get('nights', 1)}"}

    async def search(data: dict[str, Any], envelope: Envelope, context: Context) -> dict[str, Any]:
        calls.append(("search", data))
        return {"rooms": 3, "by": context.agent_id}

    handler = skill_router(hotel_card, {"hotel.book": book, "hotel.search": search})
    return Agent(hotel_card, handler), calls


async def test_skill_router_dispatches_by_skill() -> None:
    made, calls = hotel()
    net = Network([made])
    booked = await net.call(
        "hotel.book", Message.of_data({"city": "Lyon", "nights": 2}), sender="u"
    )
    found = await net.call("hotel.search", Message.of_data({"near": "station"}), sender="u")
    assert booked.data == {"confirmation": "Lyon-2"}
    assert found.data == {"rooms": 3, "by": "hotel"}
    assert calls == [("book", {"city": "Lyon", "nights": 2}), ("search", {"near": "station"})]


async def test_skill_router_merges_data_parts() -> None:
    made, calls = hotel()
    net = Network([made])
    message = Message(
        parts=(
            TextPart(text="please"),
            DataPart(data={"city": "Nice"}),
            DataPart(data={"nights": 3}),
        )
    )
    reply = await net.call("hotel.book", message, sender="u")
    assert reply.data == {"confirmation": "Nice-3"}
    assert calls == [("book", {"city": "Nice", "nights": 3})]


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"city": "Lyon", "nights": "two"}, ["nights"]),
        ({"city": "Lyon", "nights": 0}, ["nights"]),
        ({"nights": 2}, ["city"]),
        ({"city": 5, "nights": 0}, ["city", "nights"]),
    ],
)
async def test_skill_router_validates_input(data: dict[str, Any], names: list[str]) -> None:
    made, calls = hotel()
    net = Network([made])
    with pytest.raises(SchemaViolation) as caught:
        await net.call("hotel.book", Message.of_data(data), sender="u")
    text = str(caught.value)
    assert "hotel.hotel.book" in text
    for name in names:
        assert name in text
    assert calls == []  # the skill function never saw bad input


async def test_skill_router_refuses_an_unknown_skill() -> None:
    made, calls = hotel()
    net = Network([made])
    envelope = Envelope(
        sender="u", recipient="hotel", skill="hotel.cancel", message=Message.of_data({})
    )
    with pytest.raises(SchemaViolation) as caught:
        await net.transport.request(envelope)
    assert "'hotel.cancel'" in str(caught.value)
    assert "hotel.book, hotel.search" in str(caught.value)
    no_skill = envelope.model_copy(update={"skill": None})
    with pytest.raises(SchemaViolation):  # two skills: no default to fall back on
        await net.transport.request(no_skill)
    assert calls == []


async def test_skill_router_single_skill_is_the_default() -> None:
    solo = AgentCard(
        id="solo", name="Solo", entity="me", skills=(Skill(name="ping", description="pong"),)
    )

    async def ping(data: dict[str, Any], envelope: Envelope, context: Context) -> dict[str, Any]:
        return {"pong": data.get("n", 0) + 1}

    net = Network([Agent(solo, skill_router(solo, {"ping": ping}))])
    reply = await net.transport.request(
        Envelope(sender="u", recipient="solo", message=Message.of_data({"n": 41}))
    )
    assert reply.data == {"pong": 42}


def test_skill_router_must_match_the_card() -> None:
    made, _ = hotel()

    async def fn(data: dict[str, Any], envelope: Envelope, context: Context) -> dict[str, Any]:
        return {}

    with pytest.raises(SchemaViolation) as caught:
        skill_router(made.card, {"hotel.book": fn, "hotel.fly": fn})
    assert "hotel.search" in str(caught.value)
    assert "hotel.fly" in str(caught.value)


async def test_subset_serves_the_same_handlers_without_the_others() -> None:
    from lamas.agent import Agent
    from lamas.errors import NoCapability, UnknownAgent
    from lamas.protocol import AgentCard, Message, Skill
    from lamas.runtime import Network

    skill = Skill(name="work", description="work")

    def make(name: str) -> Agent:
        async def handle(envelope: Envelope, context: Context) -> Message:
            return Message.of_text(name)

        return Agent(AgentCard(id=name, name=name, entity=name, skills=(skill,)), handle)

    network = Network([make("a"), make("b")])
    only_b = network.subset(["b"])
    assert [c.id for c in only_b.find("work")] == ["b"]
    assert (await only_b.call("work", Message.of_text("x"), sender="u")).text == "b"
    with pytest.raises(NoCapability):
        await network.subset([]).call("work", Message.of_text("x"), sender="u")
    with pytest.raises(UnknownAgent):
        network.subset(["zed"])
