"""A request's deadline counts from when it is sent, not while it waits for one of the
connector's connections (the process's own queue): over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio

from a2a.helpers.proto_helpers import new_text_message
from a2a.types import Role
from a2a.types import TaskState as A2AState
from support.a2a_echo import CARD, Served

from lamas.interop.client import A2AConnector
from lamas.interop.server import a2a_app
from lamas.protocol import Envelope, Message


async def test_waiting_for_a_connection_does_not_spend_a_requests_deadline() -> None:
    async def vendor(envelope: Envelope) -> Message:
        await asyncio.sleep(0.3)  # each answer takes 0.3 s
        return Message.of_text("done")

    served = Served()
    await served.start(a2a_app(CARD.model_copy(update={"url": served.url}), vendor))
    connector = A2AConnector(max_connections=1)  # one request on the wire at a time
    try:
        await connector.fetch_card(served.url)
        started = asyncio.get_running_loop().time()
        tasks = await asyncio.gather(
            *(
                connector.send(served.url, new_text_message("go", role=Role.ROLE_USER), timeout=1.0)
                for _ in range(5)
            )
        )
        took = asyncio.get_running_loop().time() - started
    finally:
        await connector.close()
        await served.stop()
    # The last one waited ~1.2 s for the connection, past its 1 s deadline, then was
    # answered in 0.3 s: every one completed (before, the last two ended DeadlineExceeded).
    assert [t.status.state for t in tasks] == [A2AState.TASK_STATE_COMPLETED] * 5
    assert took >= 1.4  # they did queue: five answers of 0.3 s, one at a time
