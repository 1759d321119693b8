"""A lamas agent served over A2A (real HTTP on 127.0.0.1) and reached by the A2A client:
replies, remote failures, streaming progress, cancel, input-required, and the lamas
transport and remote agent on top."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from a2a.client import ClientCallContext
from a2a.helpers.proto_helpers import new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types import CancelTaskRequest, GetTaskRequest, Role
from a2a.types import TaskState as A2AState
from starlette.applications import Starlette
from support.a2a_echo import CARD, Echo, Served

from lamas.errors import AgentUnreachable, RemoteError, UnknownAgent
from lamas.interop.client import A2AConnector, HttpTransport, RemoteAgent
from lamas.interop.guard import AccessGuard
from lamas.interop.server import a2a_app
from lamas.interop.tokens import TokenCache
from lamas.protocol import AgentCard, Envelope, Message
from lamas.runtime.network import Network
from lamas.security.identity import PrivateKey
from lamas.security.signing import Directory


@pytest.fixture
async def echo() -> AsyncIterator[tuple[Echo, str, A2AConnector]]:
    from lamas.agent.agent import Agent

    served = Served()
    card = CARD.model_copy(update={"url": served.url})
    agent = Echo()

    async def helper(envelope: Envelope, context: Any) -> Message:
        return Message.of_text("helped")

    agent.network.add(Agent(AgentCard(id="helper", name="Helper", entity="acme"), helper))
    # The caller "me" is a known agent: its calls carry a bearer token (interop/guard.py).
    key = PrivateKey.generate()
    directory = Directory()
    directory.add_agent("me", "me-co", key)
    guard = AccessGuard("echo", directory, public=True)
    await served.start(a2a_app(card, agent.deliver, guard=guard))
    connector = A2AConnector(credentials=TokenCache(key, "me"))
    await connector.fetch_card(served.url)
    try:
        yield agent, served.url, connector
    finally:
        await connector.close()
        await served.stop()


def ask(text: str, sender: str = "me") -> Envelope:
    return Envelope(sender=sender, recipient="echo", message=Message.of_text(text))


async def test_a_request_gets_the_agents_reply_exactly(echo: Any) -> None:
    _, url, connector = echo
    transport = HttpTransport({"echo": url}, connector=connector)
    reply = await transport.request(
        Envelope(sender="me", recipient="echo", message=Message.of_data({"x": 1}))
    )
    assert reply.data == {"echo": {"x": 1}, "from": "me", "n": 2}
    assert isinstance(reply.data["n"], int)  # the exact form, not protobuf's doubles


async def test_a_one_way_envelope_is_delivered_without_waiting_for_the_work(echo: Any) -> None:
    agent, url, connector = echo
    transport = HttpTransport({"echo": url}, connector=connector)
    note = Envelope(sender="me", recipient="echo", mode="async", message=Message.of_text("note"))
    await transport.post(note)
    for _ in range(200):
        if agent.got:
            break
        await asyncio.sleep(0.01)
    assert [e.id for e in agent.got] == [note.id]


async def test_a_remote_failure_says_what_failed_there(echo: Any) -> None:
    _, url, connector = echo
    transport = HttpTransport({"echo": url}, connector=connector)
    with pytest.raises(RemoteError, match="failed: ValueError: the vendor's database is down"):
        await transport.request(ask("boom"))


async def test_an_unknown_or_unreachable_agent_is_a_clear_error(echo: Any) -> None:
    connector = echo[2]
    with pytest.raises(UnknownAgent):
        await HttpTransport({}, connector=connector).request(ask("hi"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    with pytest.raises(AgentUnreachable, match="could not be reached"):
        await RemoteAgent.connect(dead, connector)


async def test_streaming_shows_the_lifecycle_and_progress_as_it_happens(echo: Any) -> None:
    _, url, connector = echo
    from lamas.interop.wire import envelope_to_a2a

    events = [e async for e in connector.stream(url, envelope_to_a2a(ask("plan")), agent="echo")]
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task"
    assert events[0].task.status.state == A2AState.TASK_STATE_SUBMITTED
    statuses = [e.status_update.status for e in events if e.HasField("status_update")]
    assert statuses[0].state == A2AState.TASK_STATE_WORKING
    assert any("echo asked helper for help" in s.message.parts[0].text for s in statuses)
    assert statuses[-1].state == A2AState.TASK_STATE_COMPLETED
    assert kinds.index("artifact_update") < len(kinds) - 1  # the reply before the end


async def test_cancel_stops_the_agents_work_and_ends_the_task_canceled(echo: Any) -> None:
    agent, url, connector = echo
    from lamas.interop.wire import envelope_to_a2a

    task = await connector.send(url, envelope_to_a2a(ask("slow")), wait=False, agent="echo")
    await asyncio.wait_for(agent.started.wait(), 10)
    client = connector.client(url)
    mine = ClientCallContext(service_parameters=connector.headers("echo"))
    canceled = await client.cancel_task(CancelTaskRequest(id=task.id), context=mine)
    assert canceled.status.state == A2AState.TASK_STATE_CANCELED
    await asyncio.wait_for(agent.cancelled.wait(), 10)
    again = await client.get_task(GetTaskRequest(id=task.id), context=mine)
    assert again.status.state == A2AState.TASK_STATE_CANCELED


async def test_input_required_waits_and_the_next_message_on_the_task_answers(echo: Any) -> None:
    _, url, connector = echo
    first = await connector.send(url, new_text_message("trip", role=Role.ROLE_USER), agent="echo")
    assert first.status.state == A2AState.TASK_STATE_INPUT_REQUIRED
    answer = new_text_message("morning", role=Role.ROLE_USER, task_id=first.id)
    answer.context_id = first.context_id
    second = await connector.send(url, answer, agent="echo")
    assert second.id == first.id
    assert second.status.state == A2AState.TASK_STATE_COMPLETED
    from lamas.interop.client import reply_of

    assert reply_of(second, "echo").data == {"task_id": "lamas-7", "state": "completed"}


async def test_a_remote_agent_joins_a_local_network_from_its_card(echo: Any) -> None:
    _, url, connector = echo
    remote = await RemoteAgent.connect(url, connector)
    assert remote.card.id == "echo"
    assert remote.card.url == url
    network = Network([remote])
    reply = await network.call("echo", Message.of_data({"y": 3}), sender="me")
    assert reply.data["echo"] == {"y": 3}


class ForeignExecutor(AgentExecutor):
    """Someone else's A2A agent, written with the SDK alone (no lamas on its side)."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = context.get_user_input()
        await event_queue.enqueue_event(
            new_text_message(f"foreign agent got: {text}", context_id=context.context_id)
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


async def test_someone_elses_a2a_agent_joins_a_lamas_network() -> None:
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore
    from a2a.types import AgentCapabilities, AgentInterface, AgentProvider, AgentSkill
    from a2a.types import AgentCard as A2ACard

    served = Served()
    card = A2ACard(
        name="Weather Oracle",
        description="tells the weather",
        version="2.0.0",
        supported_interfaces=[
            AgentInterface(url=served.url, protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        provider=AgentProvider(organization="meteo-corp", url=served.url),
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(id="Weather Now", name="weather", description="the weather", tags=["w"])
        ],
    )
    handler = DefaultRequestHandler(
        agent_executor=ForeignExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    app = Starlette(
        routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, rpc_url="/")]
    )
    await served.start(app)
    connector = A2AConnector()
    try:
        remote = await RemoteAgent.connect(served.url, connector)
        assert remote.card.id == "Weather-Oracle"
        assert remote.card.entity == "meteo-corp"
        assert [s.name for s in remote.card.skills] == ["weather_now"]
        network = Network([remote])
        reply = await network.call("weather_now", Message.of_text("Lyon?"), sender="local")
        assert reply.text == "foreign agent got: Lyon?"
    finally:
        await connector.close()
        await served.stop()


async def test_lamas_ask_streams_the_task_and_answers_a_question_asked_back(echo: Any) -> None:
    from typer.testing import CliRunner

    from lamas.cli.main import app

    _, url, _ = echo
    args = ["ask", url, "trip", "--answer", "morning"]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("input_required") for line in lines), result.output
    assert "answer: morning" in lines
    assert lines[-1].startswith("completed")
