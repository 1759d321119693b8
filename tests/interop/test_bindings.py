"""All three A2A bindings (JSON-RPC, HTTP+JSON, gRPC) over one request handler, on real
sockets of 127.0.0.1; the card lists each and is cacheable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from a2a.helpers.proto_helpers import new_text_message
from a2a.types import Message as A2AMessage
from a2a.types import Role, Task
from a2a.types import TaskState as A2AState
from support.a2a_echo import CARD, Echo, Served

from lamas.errors import AgentUnreachable, ConfigError
from lamas.interop.bindings import BINDINGS, GRPC, HTTP_JSON, JSONRPC, GrpcBinding
from lamas.interop.client import A2AConnector, HttpTransport, RemoteAgent
from lamas.interop.guard import AccessGuard
from lamas.interop.server import a2a_app
from lamas.interop.tokens import TokenCache
from lamas.interop.wire import envelope_to_a2a
from lamas.protocol import Envelope, Message
from lamas.protocol.cards import Skill
from lamas.security.identity import PrivateKey
from lamas.security.signing import Directory

# The caller "me" is a known agent: its calls carry a bearer token on every binding.
KEY = PrivateKey.generate()


def guard() -> AccessGuard:
    directory = Directory()
    directory.add_agent("me", "me-co", KEY)
    return AccessGuard("echo", directory, public=True)


def connector_for(binding: str) -> A2AConnector:
    return A2AConnector(binding=binding, credentials=TokenCache(KEY, "me"))


@pytest.fixture
async def served() -> AsyncIterator[tuple[Echo, str, str]]:
    http, grpc = Served(), GrpcBinding()
    agent = Echo()
    quick = Skill(name="echo.now", description="says back at once", immediate=True)
    card = CARD.model_copy(update={"url": http.url, "skills": (*CARD.skills, quick)})
    app = a2a_app(card, agent.deliver, grpc_target=grpc.target, guard=guard())
    await http.start(app)
    await grpc.start(app.state.request_handler)
    try:
        yield agent, http.url, grpc.target
    finally:
        await grpc.stop()
        await http.stop()


async def test_the_card_lists_every_binding_and_is_cacheable(served: Any) -> None:
    _, url, target = served
    async with httpx.AsyncClient() as http:
        first = await http.get(f"{url}.well-known/agent-card.json")
        assert first.status_code == 200
        listed = {i["protocolBinding"]: i["url"] for i in first.json()["supportedInterfaces"]}
        assert listed == {JSONRPC: url, HTTP_JSON: url.rstrip("/"), GRPC: target}
        assert "max-age=" in first.headers["cache-control"]
        again = await http.get(
            f"{url}.well-known/agent-card.json",
            headers={"If-None-Match": first.headers["etag"]},
        )
        assert again.status_code == 304
        assert again.content == b""
        stamp = first.headers["last-modified"]
        for since, status in [
            (stamp, 304),
            ("Mon, 01 Jan 2001 00:00:00 GMT", 200),  # changed since then
            ("not a date", 200),
        ]:
            asked = await http.get(
                f"{url}.well-known/agent-card.json", headers={"If-Modified-Since": since}
            )
            assert asked.status_code == status, since


@pytest.mark.parametrize("binding", BINDINGS)
async def test_every_binding_carries_the_exact_reply(served: Any, binding: str) -> None:
    agent, url, _ = served
    connector = connector_for(binding)
    try:
        transport = HttpTransport({"echo": url}, connector=connector)
        reply = await transport.request(
            Envelope(sender="me", recipient="echo", message=Message.of_data({"x": 1}))
        )
        assert reply.data == {"echo": {"x": 1}, "from": "me", "n": 2}
        # RemoteAgent made from the agent's URL alone, over the same binding
        remote = await RemoteAgent.connect(url, connector)
        assert remote.id == "echo"
        events = [
            e async for e in connector.stream(url, new_text_message("hello", role=Role.ROLE_USER))
        ]
        states = [e.status_update.status.state for e in events if e.HasField("status_update")]
        assert states[-1] == A2AState.TASK_STATE_COMPLETED
        assert len(agent.got) == 2
    finally:
        await connector.close()


async def test_a_binding_lamas_does_not_speak_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="SOAP"):
        A2AConnector(binding="SOAP")


async def test_a_taken_grpc_port_is_a_clear_error() -> None:
    first = GrpcBinding()
    try:
        port = int(first.target.rsplit(":", 1)[1])
        with pytest.raises(ConfigError, match="gRPC"):
            GrpcBinding(port=port)
    finally:
        await first.stop()


@pytest.mark.parametrize("binding", BINDINGS)
async def test_an_immediate_skill_answers_with_a_message_and_long_work_stays_a_task(
    served: Any, binding: str
) -> None:
    _, url, _ = served
    connector = connector_for(binding)

    def ask(text: str, skill: str) -> Any:
        envelope = Envelope(
            sender="me", recipient="echo", skill=skill, message=Message.of_text(text)
        )
        return connector.send(url, envelope_to_a2a(envelope), agent="echo")

    try:
        quick = await ask("hi", "echo.now")
        assert isinstance(quick, A2AMessage)
        assert not quick.task_id
        assert quick.context_id  # the conversation it belongs to
        long = await ask("hi", "echo")
        assert isinstance(long, Task)
        assert long.status.state == A2AState.TASK_STATE_COMPLETED
        failed = await ask("boom", "echo.now")  # no Message to fail with: a failed task
        assert isinstance(failed, Task)
        assert failed.status.state == A2AState.TASK_STATE_FAILED
        assert "database is down" in failed.status.message.parts[0].text
    finally:
        await connector.close()


async def test_a_binding_the_agent_does_not_offer_is_a_clear_error() -> None:
    http = Served()
    agent = Echo()
    await http.start(
        a2a_app(CARD.model_copy(update={"url": http.url}), agent.deliver, guard=guard())
    )
    connector = connector_for(GRPC)  # this agent serves no gRPC
    try:
        with pytest.raises(AgentUnreachable, match="offers no GRPC interface"):
            await HttpTransport({"echo": http.url}, connector=connector).request(
                Envelope(sender="me", recipient="echo", message=Message.of_text("hi"))
            )
        assert agent.got == []
    finally:
        await connector.close()
        await http.stop()
