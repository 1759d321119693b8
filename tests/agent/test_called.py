"""A reply to a task's request says whom its agent called on that task (settlement reads it)."""

from __future__ import annotations

import pytest

from lamas.agent.agent import CALLED, Agent, called_by
from lamas.protocol import AgentCard, Context, Envelope, Message, Skill
from lamas.runtime import Network

SKILL = Skill(name="work", description="does the work")


def card(agent_id: str) -> AgentCard:
    return AgentCard(id=agent_id, name=agent_id, entity=agent_id, skills=(SKILL,))


async def echo(envelope: Envelope, context: Context) -> Message:
    return Message.of_text("ok")


async def vendor(envelope: Envelope, context: Context) -> Message:
    """Asks `helper` on the same task, posts to `logger` on another task."""
    await context.request(
        Envelope(
            sender="vendor", recipient="helper", task_id=envelope.task_id, message=envelope.message
        )
    )
    await context.post(
        Envelope(
            sender="vendor",
            recipient="logger",
            task_id="other",
            mode="async",
            message=envelope.message,
        )
    )
    return Message(parts=Message.of_text("done").parts, metadata={"kept": 1})


@pytest.fixture
def network() -> Network:
    return Network(
        [Agent(card("vendor"), vendor), Agent(card("helper"), echo), Agent(card("logger"), echo)]
    )


async def test_the_reply_names_the_agents_called_on_the_same_task(network: Network) -> None:
    ask = Envelope(
        sender="orchestrator", recipient="vendor", task_id="t1", message=Message.of_text("go")
    )
    reply = await network.transport.request(ask)
    assert reply.metadata == {"kept": 1, CALLED: ["helper"]}
    assert called_by(reply) == {"helper"}


async def test_a_request_outside_a_task_is_left_as_it_is(network: Network) -> None:
    reply = await network.transport.request(
        Envelope(sender="orchestrator", recipient="vendor", message=Message.of_text("go"))
    )
    assert reply.metadata == {"kept": 1}


def test_a_malformed_called_list_counts_nothing_wrong() -> None:
    said = Message(parts=Message.of_text("x").parts, metadata={CALLED: ["ok", 3, "", "x" * 200]})
    assert called_by(said) == {"ok"}
    assert called_by(Message(parts=said.parts, metadata={CALLED: "helper"})) == frozenset()
