"""Consensus over a network: agreement, negotiation that resolves, fallback, bad voters,
and gathering proposals from several providers."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import pytest

from lamas.agent import Agent
from lamas.errors import MalformedMessage, NoCapability, UnknownAgent
from lamas.protocol.cards import AgentCard, Skill
from lamas.protocol.consensus import VOTE_SKILL, Ballot, InvalidVote, Option, vote_skill
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Handler, Reply
from lamas.runtime.consensus import (
    Chooser,
    Vote,
    gather_options,
    reach_consensus,
    vote_handler,
)
from lamas.runtime.network import Network

OPTIONS = [Option("a", "shop-a"), Option("b", "shop-b"), Option("c", "shop-c")]


def voter(agent_id: str, handler: Handler) -> Agent:
    card = AgentCard(id=agent_id, name=agent_id, entity=f"{agent_id} Ltd", skills=(vote_skill(),))
    return Agent(card, handler)


def stubborn(choice: str | None) -> Chooser:
    def choose(question: str, options: list[Option], previous: list[Ballot]) -> Vote:
        return choice, ()

    return choose


class Follower:
    """Votes `first`, then for the most popular of the others' last choices
    (ties to the smallest key); remembers what it was shown each round."""

    def __init__(self, first: str) -> None:
        self.first = first
        self.seen: list[list[Ballot]] = []

    def __call__(self, question: str, options: list[Option], previous: list[Ballot]) -> Vote:
        self.seen.append(previous)
        counts = Counter(b.choice for b in previous if b.choice is not None)
        if not counts:
            return self.first, ()
        best = max(counts.values())
        return min(k for k, n in counts.items() if n == best), ()


def network(voters: dict[str, Handler]) -> tuple[Network, list[Envelope]]:
    net = Network([voter(name, handler) for name, handler in voters.items()])
    sent: list[Envelope] = []
    net.transport.observers.append(sent.append)
    return net, sent


async def consensus(net: Network, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "options": OPTIONS,
        "voters": [c.id for c in net.cards],
        "question": "which shop?",
        "rule": "majority",
        "criticality": "song_choice",
        "sender": "orchestrator",
        "task_id": "t-1",
    }
    arguments.update(overrides)
    return await reach_consensus(net, **arguments)


async def test_agreement_in_the_first_round() -> None:
    net, sent = network(
        {
            "v1": vote_handler(stubborn("b")),
            "v2": vote_handler(stubborn("b")),
            "v3": vote_handler(stubborn("a")),
        }
    )
    decision = await consensus(net)
    assert (decision.winner, decision.reached, decision.rounds) == ("b", True, 1)
    assert decision.fallback is False
    assert decision.notes == ()
    assert len(sent) == 3
    assert {e.skill for e in sent} == {VOTE_SKILL}
    assert {e.task_id for e in sent} == {"t-1"}
    assert {e.recipient for e in sent} == {"v1", "v2", "v3"}
    request = sent[0].message.data
    assert request["round"] == 1
    assert request["previous"] == []
    assert [o["key"] for o in request["options"]] == ["a", "b", "c"]


async def test_deadlock_resolves_when_a_voter_revises() -> None:
    follower = Follower("c")
    net, sent = network(
        {
            "v1": vote_handler(stubborn("a")),
            "v2": vote_handler(stubborn("b")),
            "v3": vote_handler(follower),
        }
    )
    decision = await consensus(net)
    # Round 1: a, b, c, one each. Round 2: the follower joins a (a and b tied, a smaller).
    assert (decision.winner, decision.reached, decision.rounds) == ("a", True, 2)
    assert decision.fallback is False
    assert decision.tally == {"a": 2.0, "b": 1.0, "c": 0.0}
    assert follower.seen[0] == []
    assert follower.seen[1] == [Ballot("v1", "a"), Ballot("v2", "b")]  # not its own ballot
    assert len(sent) == 6


async def test_async_voter_that_moves_with_the_crowd() -> None:
    async def follow(question: str, options: list[Option], previous: list[Ballot]) -> Vote:
        await asyncio.sleep(0)
        return Follower("c")(question, options, previous)

    net, _ = network(
        {
            "v1": vote_handler(stubborn("b")),
            "v2": vote_handler(stubborn("b")),
            "v3": vote_handler(follow),
        }
    )
    decision = await consensus(net, rule="unanimity")
    assert (decision.winner, decision.reached, decision.rounds) == ("b", True, 2)


async def test_permanent_deadlock_falls_back_to_a_vote() -> None:
    net, sent = network(
        {
            "v1": vote_handler(stubborn("c")),
            "v2": vote_handler(stubborn("b")),
            "v3": vote_handler(stubborn("a")),
        }
    )
    decision = await consensus(net, max_rounds=3)
    assert decision.fallback is True
    assert decision.reached is False
    assert decision.rounds == 3
    assert decision.winner == "a"  # a three-way tie: the option offered first
    assert decision.threshold == 0.5  # the threshold that was not reached
    assert len(sent) == 9
    assert sorted(e.message.data["round"] for e in sent) == [1, 1, 1, 2, 2, 2, 3, 3, 3]


async def test_unanimity_out_of_reach_falls_back_to_plurality() -> None:
    net, _ = network(
        {
            "v1": vote_handler(stubborn("b")),
            "v2": vote_handler(stubborn("b")),
            "v3": vote_handler(stubborn("a")),
        }
    )
    decision = await consensus(net, rule="unanimity", max_rounds=2)
    assert (decision.winner, decision.fallback, decision.rounds) == ("b", True, 2)
    assert decision.rule == "plurality"
    assert decision.threshold == 1.0  # unanimity's, though the criticality asked for 0.5


async def test_payment_needs_more_than_a_song_choice() -> None:
    handlers = {f"v{i}": vote_handler(stubborn("a")) for i in range(4)}
    handlers["v4"] = vote_handler(stubborn("b"))
    net, _ = network(handlers)
    song = await consensus(net, criticality="song_choice", max_rounds=1)
    payment = await consensus(net, criticality="payment", max_rounds=1)
    assert (song.winner, song.reached) == ("a", True)
    assert (payment.reached, payment.fallback, payment.winner) == (False, True, "a")
    assert payment.threshold == 0.95


async def test_weighted_rule_uses_the_given_reputations() -> None:
    net, _ = network(
        {
            "v1": vote_handler(stubborn("c")),
            "v2": vote_handler(stubborn("b")),
            "v3": vote_handler(stubborn("b")),
        }
    )
    decision = await consensus(net, rule="weighted", weights={"v1": 3.0})
    assert (decision.winner, decision.reached, decision.support) == ("c", True, 0.6)


async def test_failing_and_garbage_voters_abstain_without_ending_the_round() -> None:
    async def raises(envelope: Envelope, context: Context) -> Reply:
        raise RuntimeError("model crashed")

    async def text_only(envelope: Envelope, context: Context) -> Reply:
        return Message.of_text("I like b")

    async def unknown(envelope: Envelope, context: Context) -> Reply:
        return Message.of_data({"choice": "zeppelin"})

    async def hangs(envelope: Envelope, context: Context) -> Reply:
        await asyncio.sleep(10)
        return Message.of_data({"choice": "a"})

    net, _ = network(
        {
            "good1": vote_handler(stubborn("b")),
            "good2": vote_handler(stubborn("b")),
            "good3": vote_handler(stubborn("a")),
            "crash": raises,
            "mute": text_only,
            "liar": unknown,
            "slow": hangs,
        }
    )
    decision = await consensus(net, timeout=0.05)
    assert (decision.winner, decision.reached, decision.rounds) == ("b", True, 1)
    assert decision.abstentions == 4
    assert decision.support == pytest.approx(2 / 3)  # abstainers are out of the denominator
    notes = " | ".join(decision.notes)
    assert "crash abstains: RuntimeError: model crashed" in notes
    assert "mute abstains" in notes
    assert "liar abstains: InvalidVote" in notes
    assert "zeppelin" in notes
    assert "slow abstains: DeadlineExceeded" in notes
    assert all(note.startswith("round 1: ") for note in decision.notes)
    assert {b.voter for b in decision.ballots if b.abstains} == {"crash", "mute", "liar", "slow"}


async def test_everybody_failing_still_ends_in_a_decision() -> None:
    async def raises(envelope: Envelope, context: Context) -> Reply:
        raise RuntimeError("down")

    net, _ = network({"v1": raises, "v2": raises})
    decision = await consensus(net, max_rounds=2)
    assert (decision.winner, decision.fallback, decision.rounds) == ("a", True, 2)
    assert decision.abstentions == 2
    assert len(decision.notes) == 4


async def test_bad_arguments_are_refused_before_anything_is_sent() -> None:
    net, sent = network({"v1": vote_handler(stubborn("a"))})
    with pytest.raises(UnknownAgent):
        await consensus(net, voters=["v1", "ghost"])
    with pytest.raises(ValueError, match="max_rounds"):
        await consensus(net, max_rounds=0)
    with pytest.raises(ValueError, match="at least one option"):
        await consensus(net, options=[])
    with pytest.raises(ValueError, match="at least one voter"):
        await consensus(net, voters=[])
    with pytest.raises(ValueError, match="criticality"):
        await consensus(net, criticality=2.0)
    with pytest.raises(ValueError, match="voting rule"):
        await consensus(net, rule="coin_toss")
    with pytest.raises(InvalidVote, match="repeated: a"):
        await consensus(net, options=[Option("a", "x"), Option("a", "y")])
    with pytest.raises(InvalidVote, match="more than one ballot"):
        await consensus(net, voters=["v1", "v1"])
    with pytest.raises(InvalidVote, match="not negative"):
        await consensus(net, weights={"v1": -2.0})
    assert sent == []


async def test_vote_handler_refuses_a_malformed_request() -> None:
    handle = vote_handler(stubborn("a"))
    net = Network([voter("v1", handle)])
    bad = Envelope(
        sender="x", recipient="v1", skill=VOTE_SKILL, message=Message.of_data({"round": 0})
    )
    with pytest.raises(MalformedMessage, match="malformed vote request"):
        await net.transport.request(bad, timeout=1)


# --- gathering proposals ---------------------------------------------------------------


def provider(agent_id: str, handler: Handler) -> Agent:
    skill = Skill(name="tickets", description="sells train tickets")
    return Agent(AgentCard(id=agent_id, name=agent_id, entity=agent_id, skills=(skill,)), handler)


async def test_gather_options_from_two_providers(caplog: pytest.LogCaptureFixture) -> None:
    asked: list[Envelope] = []

    async def rail(envelope: Envelope, context: Context) -> Reply:
        asked.append(envelope)
        return Message.of_data({"offer_id": "TK1", "price": 30, "to": envelope.message.data["to"]})

    async def coach(envelope: Envelope, context: Context) -> Reply:
        asked.append(envelope)
        return Message.of_data({"offers": [{"price": 20}, {"price": 25, "key": "express"}]})

    async def broken(envelope: Envelope, context: Context) -> Reply:
        raise RuntimeError("booking system down")

    net = Network([provider("rail", rail), provider("coach", coach), provider("broken", broken)])
    with caplog.at_level(logging.WARNING, logger="lamas.runtime.consensus"):
        options = await gather_options(
            net, "tickets", Message.of_data({"to": "Lyon"}), sender="orchestrator", task_id="t-9"
        )
    assert options == [
        Option("rail:TK1", "rail", {"offer_id": "TK1", "price": 30, "to": "Lyon"}),
        Option("coach:0", "coach", {"price": 20}),
        Option("coach:express", "coach", {"price": 25, "key": "express"}),
    ]
    assert {(e.skill, e.task_id, e.sender) for e in asked} == {("tickets", "t-9", "orchestrator")}
    assert "skipping broken's proposal" in caplog.text
    assert "booking system down" in caplog.text


async def test_gathered_options_go_to_a_vote() -> None:
    async def rail(envelope: Envelope, context: Context) -> Reply:
        return Message.of_data({"price": 30})

    async def coach(envelope: Envelope, context: Context) -> Reply:
        return Message.of_data({"price": 20})

    def cheapest(question: str, options: list[Option], previous: list[Ballot]) -> Vote:
        ranking = sorted(options, key=lambda o: o.data["price"])
        return ranking[0].key, [o.key for o in ranking]

    reviewers = [voter(f"r{i}", vote_handler(cheapest)) for i in range(3)]
    net = Network([provider("rail", rail), provider("coach", coach), *reviewers])
    options = await gather_options(net, "tickets", Message.of_data({}), sender="orchestrator")
    decision = await reach_consensus(
        net,
        options=options,
        voters=["r0", "r1", "r2"],
        question="which ticket?",
        rule="borda",
        criticality="payment",
        sender="orchestrator",
    )
    assert (decision.winner, decision.reached, decision.support) == ("coach:0", True, 1.0)
    assert decision.tally == {"rail:0": 0.0, "coach:0": 3.0}


async def test_gather_options_needs_a_provider() -> None:
    net = Network([voter("v1", vote_handler(stubborn("a")))])
    with pytest.raises(NoCapability):
        await gather_options(net, "tickets", Message.of_text("hi"), sender="orchestrator")


async def test_gather_options_skips_a_slow_provider() -> None:
    async def fast(envelope: Envelope, context: Context) -> Reply:
        return Message.of_data({"price": 1})

    async def slow(envelope: Envelope, context: Context) -> Reply:
        await asyncio.sleep(10)
        return Message.of_data({"price": 0})

    net = Network([provider("fast", fast), provider("slow", slow)])
    options = await gather_options(net, "tickets", Message.of_text("hi"), sender="o", timeout=0.05)
    assert [o.key for o in options] == ["fast:0"]
