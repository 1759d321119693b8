"""Access policies: deny by default, glob rules, enforcement before delivery."""

from __future__ import annotations

import asyncio

import pytest

from lamas.agent import Agent
from lamas.errors import AccessDenied, ConfigError, DeliveryError
from lamas.protocol.cards import AgentCard, Skill
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Reply
from lamas.runtime.network import Network
from lamas.runtime.policy import AllowAll, Rule, RulePolicy
from lamas.runtime.transport import LocalTransport


def env(sender: str, recipient: str, skill: str | None = None) -> Envelope:
    return Envelope(sender=sender, recipient=recipient, skill=skill, message=Message.of_text("x"))


class Counting:
    def __init__(self) -> None:
        self.calls: list[Envelope] = []

    async def __call__(self, envelope: Envelope, context: Context) -> Reply:
        self.calls.append(envelope)
        return Message.of_text("ok")


def test_allow_all_allows() -> None:
    policy = AllowAll()
    for envelope in (env("anyone", "anything", "any.skill"), env("a", "b")):
        policy.check(envelope)  # raises AccessDenied if it refuses


def test_rule_policy_denies_by_default() -> None:
    with pytest.raises(AccessDenied) as caught:
        RulePolicy([]).check(env("user", "hotel", "hotel.book"))
    error = caught.value
    assert isinstance(error, DeliveryError)
    assert error.sender == "user"
    assert error.recipient == "hotel"
    assert "'user'" in str(error)
    assert "'hotel'" in str(error)
    assert "'hotel.book'" in error.reason


def test_denial_without_skill_says_message() -> None:
    with pytest.raises(AccessDenied, match="no rule allows a message"):
        RulePolicy([Rule(skill="book")]).check(env("a", "b"))


def test_glob_rules_allow() -> None:
    policy = RulePolicy([Rule(sender="orchestrator*", recipient="hotel.*", skill="hotel.*")])
    policy.check(env("orchestrator", "hotel.acme", "hotel.book"))
    policy.check(env("orchestrator-2", "hotel.ibis", "hotel.search"))
    for denied in (
        env("user", "hotel.acme", "hotel.book"),  # wrong sender
        env("orchestrator", "train.sncf", "hotel.book"),  # wrong recipient
        env("orchestrator", "hotel.acme", "train.book"),  # wrong skill
        env("orchestrator", "hotel.acme"),  # no skill does not match "hotel.*"
    ):
        with pytest.raises(AccessDenied):
            policy.check(denied)


def test_star_rule_matches_envelopes_without_skill() -> None:
    assert Rule().matches(env("a", "b"))
    assert Rule(sender="a").matches(env("a", "b", "s"))
    assert not Rule(sender="a").matches(env("z", "b"))
    assert not Rule(skill="s").matches(env("a", "b"))


def test_any_matching_rule_is_enough() -> None:
    policy = RulePolicy([Rule(sender="a", recipient="b"), Rule(sender="c", recipient="d")])
    policy.check(env("c", "d", "x"))
    with pytest.raises(AccessDenied):
        policy.check(env("a", "d", "x"))


async def test_transport_refuses_before_the_handler_runs() -> None:
    transport = LocalTransport(policy=RulePolicy([Rule(sender="friend")]))
    handler = Counting()
    transport.register("b", handler)
    with pytest.raises(AccessDenied):
        await transport.request(env("stranger", "b"))
    with pytest.raises(AccessDenied):
        await transport.post(env("stranger", "b"))
    await asyncio.sleep(0)
    assert handler.calls == []
    assert transport.load("b") == 0
    assert list(transport.dead_letters) == []
    assert (await transport.request(env("friend", "b"))).text == "ok"
    assert len(handler.calls) == 1


async def test_publish_is_checked_too() -> None:
    transport = LocalTransport(policy=RulePolicy([Rule(sender="press", recipient="news")]))
    handler = Counting()
    transport.register("reader", handler)
    transport.subscribe("news", "reader")
    with pytest.raises(AccessDenied):
        await transport.publish(env("troll", "news"))
    assert await transport.publish(env("press", "news")) == 1
    for _ in range(5):
        await asyncio.sleep(0)
    assert [e.sender for e in handler.calls] == ["press"]


def hotel_agent(handler: Counting) -> Agent:
    card = AgentCard(
        id="hotel",
        name="Hotel",
        entity="Acme",
        skills=(
            Skill(name="hotel.book", description="book"),
            Skill(name="hotel.admin", description="admin"),
        ),
    )
    return Agent(card, handler)


async def test_network_policy_refuses_before_the_handler_runs() -> None:
    handler = Counting()
    policy = RulePolicy([Rule(sender="orchestrator", recipient="hotel", skill="hotel.book")])
    net = Network([hotel_agent(handler)], policy=policy)
    with pytest.raises(AccessDenied) as caught:
        await net.call("hotel.admin", Message.of_text("drop tables"), sender="orchestrator")
    assert caught.value.recipient == "hotel"
    with pytest.raises(AccessDenied) as caught:
        await net.call("hotel.book", Message.of_text("room"), sender="user")
    assert caught.value.sender == "user"
    assert handler.calls == []
    reply = await net.call("hotel.book", Message.of_text("room"), sender="orchestrator")
    assert reply.text == "ok"
    assert [e.skill for e in handler.calls] == ["hotel.book"]


async def test_network_policy_is_not_silently_ignored_with_a_given_transport() -> None:
    handler = Counting()
    policy = RulePolicy([])  # deny everything
    try:
        net = Network([hotel_agent(handler)], policy=policy, transport=LocalTransport())
    except (ConfigError, ValueError, TypeError):
        return  # refusing the ambiguous combination would be fine too
    with pytest.raises(AccessDenied):
        await net.call("hotel.book", Message.of_text("room"), sender="user")
    assert handler.calls == []
