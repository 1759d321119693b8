"""Consensus over a network: gather proposals, poll voters in rounds, fall back to a vote.

The counting is pure and lives in `lamas.protocol.consensus`; this module only moves
envelopes. Round 1 asks every voter in parallel; when no option reaches the threshold,
each voter is asked again, now seeing the others' last ballots, so it may revise. After
`max_rounds` a plurality vote settles it: a task never deadlocks.

A voter that fails, times out or answers something that is not a valid vote abstains for
that round; the reason is kept in `Decision.notes` and logged, and the round goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace

from lamas.errors import NoCapability, UnknownAgent
from lamas.protocol.consensus import (
    VOTE_SKILL,
    Ballot,
    Decision,
    Option,
    Rule,
    VoteRequest,
    decide,
    fallback_vote,
    options_from_reply,
    parse_vote,
    threshold_for,
    vote_request,
)
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Handler, Reply
from lamas.runtime.network import Network
from lamas.runtime.transport import Transport

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0

Vote = tuple[str | None, Sequence[str]]
"""A voter's choice (None = abstain) and its ranking, best first (may be empty)."""

Chooser = Callable[[str, list[Option], list[Ballot]], Vote | Awaitable[Vote]]
"""How an agent votes: (question, options, others' last ballots) -> (choice, ranking)."""


async def reach_consensus(
    network: Network,
    *,
    options: Sequence[Option],
    voters: Sequence[str],
    question: str,
    rule: Rule,
    criticality: float | str,
    sender: str,
    weights: Mapping[str, float] | None = None,
    max_rounds: int = 3,
    task_id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    transport: Transport | None = None,
) -> Decision:
    """Ask `voters` to choose among `options` until a decision reaches the threshold of
    `criticality` (see `threshold_for`), at most `max_rounds` times, then fall back to a
    plurality vote. `timeout` bounds each voter's answer in each round.

    The decision's `rounds` says how many rounds ran, `notes` why voters abstained
    against their will. Bad arguments raise before any envelope is sent. `transport`
    (default: the network's) is what the ballots go through, e.g. the sender's guarded
    gate.
    """
    options, voters = tuple(options), tuple(voters)
    threshold = threshold_for(criticality)
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
    if not options:
        raise ValueError("consensus needs at least one option; gather proposals first")
    if not voters:
        raise ValueError("consensus needs at least one voter")
    for voter in voters:
        if voter not in network.transport:
            raise UnknownAgent(voter)
    # Counting everyone's abstention checks the rule, options, voters and weights now,
    # before round 1 asks anybody anything.
    decision = decide(
        (Ballot(v, None) for v in voters),
        rule,
        threshold=threshold,
        weights=weights,
        options=options,
    )

    notes: list[str] = []
    previous: tuple[Ballot, ...] = ()
    history: list[tuple[Ballot, ...]] = []
    for round_ in range(1, max_rounds + 1):
        envelopes = [
            Envelope(
                sender=sender,
                recipient=voter,
                skill=VOTE_SKILL,
                task_id=task_id,
                message=Message.of_data(
                    vote_request(question, options, round_, previous, voter=voter)
                ),
            )
            for voter in voters
        ]
        via = transport or network.transport
        polled = await asyncio.gather(*(_ballot(via, e, options, timeout) for e in envelopes))
        previous = tuple(ballot for ballot, _ in polled)
        history.append(previous)
        notes.extend(f"round {round_}: {why}" for _, why in polled if why)
        decision = decide(previous, rule, threshold=threshold, weights=weights, options=options)
        if decision.reached:
            return replace(decision, rounds=round_, notes=tuple(notes), history=tuple(history))
    forced = fallback_vote(previous, options)
    log.info(
        "no consensus on %r after %d rounds; plurality chose %s",
        question,
        max_rounds,
        forced.winner,
    )
    # Keep the threshold that was missed (unanimity's is 1.0, whatever the criticality).
    return replace(
        forced,
        rounds=max_rounds,
        threshold=decision.threshold,
        notes=tuple(notes),
        history=tuple(history),
    )


async def gather_options(
    network: Network,
    capability: str,
    message: Message,
    *,
    sender: str,
    task_id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Option]:
    """Ask every agent offering `capability` in parallel; each reply's data becomes options
    (see `options_from_reply`), in the order the agents registered, which is also the
    order ties are broken in.

    A provider that fails, times out or replies with no usable data is skipped and logged
    as a warning: one vendor down must not stop the others' offers from being weighed.
    """
    cards = network.find(capability)
    if not cards:
        raise NoCapability(capability, network.capabilities())
    envelopes = [
        Envelope(sender=sender, recipient=c.id, skill=capability, task_id=task_id, message=message)
        for c in cards
    ]
    replies = await asyncio.gather(*(_proposals(network, e, timeout) for e in envelopes))
    return [option for offered in replies for option in offered]


def vote_handler(choose: Chooser) -> Handler:
    """A handler for the `consensus.vote` skill that votes by `choose` (sync or async)."""

    async def handle(envelope: Envelope, context: Context) -> Reply:
        request = VoteRequest.parse(envelope.message.data)
        options = [o.to_option() for o in request.options]
        previous = [Ballot(b.voter, b.choice, b.ranking) for b in request.previous]
        vote = choose(request.question, options, previous)
        choice, ranking = await vote if inspect.isawaitable(vote) else vote
        return Message.of_data({"choice": choice, "ranking": list(ranking)})

    return handle


async def _ballot(
    transport: Transport, envelope: Envelope, options: Sequence[Option], timeout: float
) -> tuple[Ballot, str | None]:
    """One voter's ballot for one round; any failure of that voter is its abstention."""
    voter = envelope.recipient
    try:
        reply = await transport.request(envelope, timeout=timeout)
        return parse_vote(voter, reply.data, options), None
    except Exception as error:  # one voter's failure, whatever it is, must not end the round
        why = f"{voter} abstains: {type(error).__name__}: {error}"
        log.warning("consensus: %s", why)
        return Ballot(voter, None), why


async def _proposals(network: Network, envelope: Envelope, timeout: float) -> list[Option]:
    provider = envelope.recipient
    try:
        reply = await network.transport.request(envelope, timeout=timeout)
        return options_from_reply(provider, reply.data)
    except Exception as error:  # a provider's failure only loses its own offers
        log.warning(
            "consensus: skipping %s's proposal: %s: %s", provider, type(error).__name__, error
        )
        return []
