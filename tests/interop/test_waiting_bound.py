"""The A2A server keeps a bounded number of tasks waiting for their answers: beyond it,
new tasks are refused as busy (nothing started), while answers still get through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from a2a.helpers.proto_helpers import new_text_message
from a2a.types import Role
from a2a.types import TaskState as A2AState
from support.a2a_echo import CARD, Echo, Served

from lamas.errors import ConfigError
from lamas.interop.client import A2AConnector
from lamas.interop.server import LamasExecutor, a2a_app


@pytest.fixture
async def served() -> AsyncIterator[tuple[Echo, str, A2AConnector]]:
    served = Served()
    agent = Echo()
    await served.start(
        a2a_app(CARD.model_copy(update={"url": served.url}), agent.deliver, max_questions=2)
    )
    connector = A2AConnector()
    try:
        yield agent, served.url, connector
    finally:
        await connector.close()
        await served.stop()


CAPABILITY = {"X-Lamas-Capability": "w" * 43}


async def send(url: str, connector: A2AConnector, text: str, on: Any = None) -> Any:
    message = new_text_message(text, role=Role.ROLE_USER)
    if on is not None:
        message.task_id, message.context_id = on.id, on.context_id
    return await connector.send(url, message, headers=CAPABILITY)


async def test_beyond_max_questions_new_tasks_are_refused_busy_and_answers_free_places(
    served: Any,
) -> None:
    agent, url, connector = served
    first = await send(url, connector, "trip")
    second = await send(url, connector, "trip")
    assert {first.status.state, second.status.state} == {A2AState.TASK_STATE_INPUT_REQUIRED}
    delivered = len(agent.got)
    for text in ("trip", "hello"):
        refused = await send(url, connector, text)
        assert refused.status.state == A2AState.TASK_STATE_REJECTED
        said = " ".join(p.text for p in refused.status.message.parts)
        assert "busy" in said
        assert "2 tasks waiting for their answers" in said
    assert len(agent.got) == delivered  # refused before the agent saw anything
    answered = await send(url, connector, "morning", on=first)  # an answer still gets in
    assert answered.status.state == A2AState.TASK_STATE_COMPLETED
    again = await send(url, connector, "trip")  # and freed a place
    assert again.status.state == A2AState.TASK_STATE_INPUT_REQUIRED


def test_max_questions_must_be_positive() -> None:
    async def deliver(envelope: Any) -> Any:
        raise AssertionError

    with pytest.raises(ConfigError, match="max_questions must be at least 1"):
        LamasExecutor("echo", deliver, max_questions=0)
