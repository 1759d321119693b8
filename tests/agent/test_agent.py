"""Agent: a card plus a handler in a middleware stack; `skill_router` dispatch by skill."""

from __future__ import annotations

from typing import Any

import pytest

from lamas.agent.agent import Agent, compose, skill_router
from lamas.errors import SchemaViolation
from lamas.protocol import AgentCard, Context, Envelope, Message, Skill
from lamas.protocol.types import Handler, Reply
from lamas.runtime import Network


class FakeContext:
    agent_id = "me"

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        raise AssertionError("not used")

    async def post(self, envelope: Envelope) -> None:
        raise AssertionError("not used")


CONTEXT = FakeContext()


def envelope(text: str = "hi", *, skill: str | None = None, **data: Any) -> Envelope:
    message = Message.of_data(data) if data else Message.of_text(text, role="user")
    return Envelope(sender="user", recipient="echo", skill=skill, message=message)


def card(*skills: Skill, agent_id: str = "echo") -> AgentCard:
    return AgentCard(id=agent_id, name="Echo", entity="tests", skills=skills)


def recorder(name: str, log: list[str]) -> Any:
    def middleware(inner: Handler) -> Handler:
        async def handle(env: Envelope, context: Context) -> Reply:
            log.append(f"{name}>")
            reply = await inner(env, context)
            log.append(f"<{name}")
            return reply

        return handle

    return middleware


async def echo(env: Envelope, context: Context) -> Reply:
    return Message.of_text(f"{context.agent_id}: {env.message.text}")


# --- compose and Agent ------------------------------------------------------


async def test_compose_applies_middleware_outermost_first() -> None:
    log: list[str] = []

    async def inner(env: Envelope, context: Context) -> Reply:
        log.append("handler")
        return Message.of_text("done")

    handler = compose(inner, [recorder("a", log), recorder("b", log), recorder("c", log)])
    reply = await handler(envelope(), CONTEXT)
    assert reply is not None
    assert reply.text == "done"
    assert log == ["a>", "b>", "c>", "handler", "<c", "<b", "<a"]


async def test_compose_accepts_a_generator_and_no_middleware() -> None:
    log: list[str] = []
    handler = compose(echo, (recorder(n, log) for n in "xy"))
    await handler(envelope(), CONTEXT)
    assert log == ["x>", "y>", "<y", "<x"]
    assert compose(echo, []) is echo


async def test_agent_call_goes_through_the_stack() -> None:
    log: list[str] = []
    agent = Agent(card(), echo, middleware=[recorder("outer", log), recorder("inner", log)])
    reply = await agent(envelope("hello"), CONTEXT)
    assert reply is not None
    assert reply.text == "me: hello"
    assert log == ["outer>", "inner>", "<inner", "<outer"]
    assert agent.id == "echo"
    assert repr(agent) == "Agent('echo', entity='tests')"


async def test_middleware_can_short_circuit() -> None:
    called: list[Envelope] = []

    async def handler(env: Envelope, context: Context) -> Reply:
        called.append(env)
        return Message.of_text("handled")

    def refuse_shouting(inner: Handler) -> Handler:
        async def handle(env: Envelope, context: Context) -> Reply:
            if env.message.text.isupper():
                return Message.of_text("please do not shout")
            return await inner(env, context)

        return handle

    agent = Agent(card(), handler, middleware=[refuse_shouting])
    blocked = await agent(envelope("HELLO"), CONTEXT)
    assert blocked is not None
    assert blocked.text == "please do not shout"
    assert called == []
    passed = await agent(envelope("hello"), CONTEXT)
    assert passed is not None
    assert passed.text == "handled"
    assert len(called) == 1


async def test_middleware_can_rewrite_the_reply() -> None:
    def upper(inner: Handler) -> Handler:
        async def handle(env: Envelope, context: Context) -> Reply:
            reply = await inner(env, context)
            assert reply is not None
            return Message.of_text(reply.text.upper())

        return handle

    agent = Agent(card(), echo, middleware=[upper])
    reply = await agent(envelope("quiet"), CONTEXT)
    assert reply is not None
    assert reply.text == "ME: QUIET"


# --- skill_router -----------------------------------------------------------

ADD = Skill(
    name="math.add",
    description="add two integers",
    input_schema={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)
NEGATE = Skill(
    name="math.negate",
    description="negate an integer",
    input_schema={"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
)


async def add(data: dict[str, Any], env: Envelope, context: Context) -> dict[str, Any]:
    return {"sum": data["a"] + data["b"], "by": context.agent_id}


async def negate(data: dict[str, Any], env: Envelope, context: Context) -> dict[str, Any]:
    return {"value": -data["x"]}


def test_skill_router_refuses_a_missing_function() -> None:
    with pytest.raises(SchemaViolation, match=r"missing \['math.negate'\]"):
        skill_router(card(ADD, NEGATE), {"math.add": add})


def test_skill_router_refuses_a_function_not_on_the_card() -> None:
    with pytest.raises(SchemaViolation, match=r"not on the card \['math.negate'\]"):
        skill_router(card(ADD), {"math.add": add, "math.negate": negate})


async def test_skill_router_dispatches_through_a_network() -> None:
    math_card = card(ADD, NEGATE, agent_id="math")
    network = Network(
        [Agent(math_card, skill_router(math_card, {"math.add": add, "math.negate": negate}))]
    )

    total = await network.call("math.add", Message.of_data({"a": 2, "b": 3}), sender="user")
    assert total.data == {"sum": 5, "by": "math"}
    negated = await network.call("math.negate", Message.of_data({"x": 4}), sender="user")
    assert negated.data == {"value": -4}


async def test_skill_router_rejects_input_that_breaks_the_schema() -> None:
    math_card = card(ADD, agent_id="math")
    network = Network([Agent(math_card, skill_router(math_card, {"math.add": add}))])
    with pytest.raises(SchemaViolation, match=r"math\.math\.add.*b.*not of type 'integer'"):
        await network.call("math.add", Message.of_data({"a": 1, "b": "two"}), sender="user")
    with pytest.raises(SchemaViolation, match="'a' is a required property"):
        await network.call("math.add", Message.of_data({"b": 2}), sender="user")


async def test_skill_router_refuses_an_unknown_skill() -> None:
    math_card = card(ADD, NEGATE, agent_id="math")
    router = skill_router(math_card, {"math.add": add, "math.negate": negate})
    network = Network([Agent(math_card, router)])
    unknown = Envelope(
        sender="user", recipient="math", skill="math.divide", message=Message.of_data({})
    )
    with pytest.raises(SchemaViolation, match=r"no skill 'math\.divide'.*math\.add, math\.negate"):
        await network.transport.request(unknown)
    # with two skills an envelope must name one
    anonymous = Envelope(sender="user", recipient="math", message=Message.of_data({"x": 1}))
    with pytest.raises(SchemaViolation, match="no skill None"):
        await network.transport.request(anonymous)


async def test_a_single_skill_agent_needs_no_skill_name() -> None:
    negate_card = card(NEGATE, agent_id="neg")
    network = Network([Agent(negate_card, skill_router(negate_card, {"math.negate": negate}))])
    env = Envelope(sender="user", recipient="neg", message=Message.of_data({"x": -7}))
    reply = await network.transport.request(env)
    assert reply.data == {"value": 7}
