"""The registry and nodes in one process, over real HTTP on 127.0.0.1: signed
registrations, discovery by capability, health checks that drop and restore agents, and
envelopes signed and checked across nodes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from a2a.helpers.proto_helpers import new_text_message
from a2a.types import Role
from a2a.types import TaskState as A2AState
from test_a2a_service import Served

from lamas.agent.agent import Agent
from lamas.errors import RemoteError
from lamas.interop.client import A2AConnector, HttpTransport
from lamas.interop.keys import KeyFolder, make_keys, register
from lamas.interop.node import Node
from lamas.interop.registry import Registry, RegistryClient, registry_app
from lamas.interop.tokens import TokenCache
from lamas.protocol import AgentCard, Context, Envelope, Message
from lamas.protocol.cards import Skill
from lamas.security.identity import PrivateKey
from lamas.security.signing import sign_envelope

HOTEL = AgentCard(
    id="hotel",
    name="Hotel",
    entity="staywell",
    skills=(Skill(name="hotel.search", description="find rooms"),),
)
PLANNER = AgentCard(
    id="planner",
    name="Planner",
    entity="platform",
    skills=(Skill(name="plan.trip", description="plans trips"),),
)


@pytest.fixture
def keys(tmp_path: Path) -> KeyFolder:
    return make_keys(tmp_path / "keys", [HOTEL, PLANNER], callers=["user"])


@pytest.fixture
async def registry(keys: KeyFolder) -> AsyncIterator[tuple[Registry, str]]:
    state = Registry(keys.trust(), interval=0.1, misses=2)
    served = Served()
    served_app = registry_app(state)
    checks = asyncio.create_task(state.run_checks())  # the lifespan's job; lifespan is off
    await served.start(served_app)
    try:
        yield state, served.url
    finally:
        checks.cancel()
        await served.stop()


async def hotel_handler(envelope: Envelope, context: Context) -> Message:
    return Message.of_data({"rooms": 3, "asked_by": envelope.sender})


async def planner_handler(envelope: Envelope, context: Context) -> Message:
    reply = await context.request(
        Envelope(
            sender=context.agent_id,
            recipient="hotel",
            skill="hotel.search",
            message=Message.of_data({"city": "Lyon"}),
        )
    )
    return Message.of_data({"plan": reply.data})


async def _eventually(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - polling a condition of another task is the point
            await asyncio.sleep(0.05)


async def test_a_forged_registration_is_refused_and_changes_nothing(
    registry: tuple[Registry, str], keys: KeyFolder
) -> None:
    state, url = registry
    client = RegistryClient(url)
    try:
        card = HOTEL.model_copy(update={"url": "http://127.0.0.1:9/"})
        stranger = PrivateKey.generate()  # not staywell's key
        with pytest.raises(RemoteError, match="not vouched for by its entity"):
            await client.publish(register(card, keys.agent_key("hotel"), stranger))
        assert state.entries == {}
        honest = register(card, keys.agent_key("hotel"), keys.entity_key("staywell"))
        await client.publish(honest)
        assert [r.card.id for r, _ in await client.discover("hotel.search")] == ["hotel"]
        # Published again with the same (trusted) key but an altered card: refused.
        moved = honest.card.model_copy(update={"url": "http://evil.example/"})
        with pytest.raises(RemoteError, match="does not match its content"):
            await client.publish(honest.model_copy(update={"card": moved}))
        assert state.entries["hotel"].registration.card.url == "http://127.0.0.1:9/"
        assert await client.discover("plan.trip") == []
    finally:
        await client.close()


async def test_nodes_find_each_other_sign_and_check_and_a_dead_one_is_dropped_then_back(
    registry: tuple[Registry, str], keys: KeyFolder
) -> None:
    state, url = registry
    hotel = Node(HOTEL, keys, registry=url)
    planner = Node(PLANNER, keys, registry=url, public=True)
    await hotel.start(hotel_handler)
    await planner.start(planner_handler)
    connector = A2AConnector()
    try:
        await planner.join(["hotel"])
        assert [c.id for c in planner.network.find("hotel.search")] == ["hotel"]
        # A plain A2A client asks the public planner; the planner asks the hotel, signed.
        await connector.fetch_card(planner.url)
        task = await connector.send(planner.url, new_text_message("go", role=Role.ROLE_USER))
        assert task.status.state == A2AState.TASK_STATE_COMPLETED, task.status
        from lamas.interop.client import reply_of

        assert reply_of(task, "planner").data == {"plan": {"rooms": 3, "asked_by": "planner"}}
        assert hotel.rejected == []
        # An envelope claiming to be the planner's but signed by another key is refused
        # (even with the planner's bearer token), and one sent with no token at all to the
        # (non-public) hotel is refused at the door (HTTP 401), before any task exists.
        as_planner = A2AConnector(credentials=TokenCache(keys.agent_key("planner"), "planner"))
        direct = HttpTransport({"hotel": hotel.url}, connector=as_planner)
        ask = Envelope(
            sender="planner", recipient="hotel", skill="hotel.search", message=Message.of_text("x")
        )
        with pytest.raises(RemoteError, match="forged"):
            await direct.request(sign_envelope(ask, PrivateKey.generate()))
        await as_planner.close()
        anonymous = HttpTransport({"hotel": hotel.url}, connector=connector)
        with pytest.raises(RemoteError, match="401"):
            await anonymous.request(ask.model_copy(update={"sender": "user"}))
        assert len(hotel.rejected) == 1
        # The hotel stops answering: dropped from discovery and from the planner's network.
        await hotel.close()
        await _eventually(lambda: not state.entries["hotel"].healthy)
        await _eventually(lambda: "hotel" not in planner.network.transport)
        # It comes back (a new process: a new port): listed again and rejoined.
        hotel = Node(HOTEL, keys, registry=url)
        await hotel.start(hotel_handler)
        await _eventually(lambda: state.entries["hotel"].healthy)
        await _eventually(lambda: "hotel" in planner.network.transport)
        assert planner.network.card("hotel").url == hotel.url
    finally:
        await connector.close()
        await planner.close()
        await hotel.close()


async def test_a_dead_agent_is_dropped_on_its_own_schedule_while_another_answers_slowly(
    keys: KeyFolder,
) -> None:
    """Health checks are per agent: the hotel's card takes 2 s to come (a loaded but live
    agent), the planner is dead (its port refuses at once). The planner is dropped after
    its own 2 misses (~0.2 s of checks), long before a single slow check of the hotel ends;
    when the checks of all agents ran in one round, each round waited for the hotel, and
    dropping the planner took 2 rounds: over 4 s."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    asked: list[float] = []

    async def slow_card(request: Any) -> JSONResponse:
        asked.append(asyncio.get_running_loop().time())
        await asyncio.sleep(2.0)
        return JSONResponse({"name": "Hotel"})

    slow = Served()
    await slow.start(Starlette(routes=[Route("/.well-known/agent-card.json", slow_card)]))
    dead = Served()  # a port that was served and is closed: connections are refused
    dead_url = dead.url
    dead.socket.close()
    state = Registry(keys.trust(), interval=0.1, misses=2)
    hotel = HOTEL.model_copy(update={"url": slow.url})
    planner = PLANNER.model_copy(update={"url": dead_url})
    state.publish(register(hotel, keys.agent_key("hotel"), keys.entity_key("staywell")))
    state.publish(register(planner, keys.agent_key("planner"), keys.entity_key("platform")))
    checks = asyncio.create_task(state.run_checks())
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _eventually(lambda: not state.entries["planner"].healthy, timeout=10.0)
        dropped_after = loop.time() - started
        assert dropped_after < 1.5, f"the dead planner was dropped after {dropped_after:.1f} s"
        assert asked, "the slow hotel was being checked meanwhile"
        assert state.entries["hotel"].healthy
        assert state.entries["hotel"].misses == 0
        # The slow hotel's own check ends as an answer: it stays listed, the planner not.
        await _eventually(lambda: len(asked) >= 2, timeout=10.0)
        assert [e.registration.card.id for e in state.discover()] == ["hotel"]
    finally:
        checks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checks
        await slow.stop()


async def test_serving_any_agent_by_module_reference(
    registry: tuple[Registry, str], keys: KeyFolder, tmp_path: Path
) -> None:
    from lamas.interop.launch import node_from_object

    module = tmp_path / "my_hotel.py"
    module.write_text(
        "from lamas.agent.agent import Agent\n"
        "from lamas.protocol import AgentCard, Message\n"
        "async def handle(envelope, context):\n"
        "    return Message.of_text('a room')\n"
        f"agent = Agent(AgentCard.parse({HOTEL.model_dump_json()!r}), handle)\n"
    )
    node, handler = node_from_object(f"{module}:agent", keys, registry=registry[1])
    await node.start(handler)
    connector = A2AConnector()
    try:
        card = await connector.fetch_card(node.url)
        assert card.supported_interfaces[0].url == node.url  # exactly the URL it serves
        assert [s.id for s in card.skills] == ["hotel.search"]
        assert isinstance(Agent, type)
    finally:
        await connector.close()
        await node.close()
