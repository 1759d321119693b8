"""An echo agent served over A2A on a free port of 127.0.0.1: what the A2A service and
binding tests talk to."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from starlette.applications import Starlette

from lamas.interop.node import no_delay
from lamas.interop.server import report_progress
from lamas.protocol import AgentCard, Envelope, Message
from lamas.protocol.cards import Skill
from lamas.runtime.network import Network


class Served:
    """A Starlette app served by uvicorn on a free port of 127.0.0.1, in this loop."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        no_delay(self.socket)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/"
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, app: Starlette) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.task = asyncio.create_task(self.server.serve(sockets=[self.socket]))
        while not self.server.started:  # uvicorn offers no event to wait on
            assert not self.task.done()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        assert self.server is not None
        assert self.task is not None
        self.server.should_exit = True
        await self.task


class Echo:
    """The agent behind the server: its behaviour is chosen by the request's text."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()
        self.network = Network()
        self.network.transport.observers.append(report_progress)
        self.got: list[Envelope] = []

    async def deliver(self, envelope: Envelope) -> Message:
        self.got.append(envelope)
        text = envelope.message.text
        if text == "boom":
            raise ValueError("the vendor's database is down")
        if text == "slow":
            self.started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if text == "plan":
            # A sub-request on the task's behalf: streamed as progress.
            await self.network.transport.request(
                Envelope(sender="echo", recipient="helper", skill="help", message=envelope.message)
            )
        if text == "trip" and envelope.task_id is None:
            return Message.of_data({"task_id": "lamas-7", "state": "input-required"})
        if text in ("trip", "morning"):
            return Message.of_data({"task_id": envelope.task_id, "state": "completed"})
        return Message.of_data({"echo": envelope.message.data, "from": envelope.sender, "n": 2})


CARD = AgentCard(
    id="echo",
    name="Echo",
    entity="acme",
    skills=(Skill(name="echo", description="says back what it gets"),),
)
