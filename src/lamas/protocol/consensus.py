"""Consensus formation: ballots over candidate answers, decided by a rule at a threshold
that rises with the task's criticality, with a plurality fallback so no task deadlocks.

When several agents can answer (two ticket vendors, three reviewers), their answers
become `Option`s, voters cast `Ballot`s, and `decide` counts them by one of four rules:

- majority:  the winner's share of the votes cast;
- weighted:  the winner's share of the voters' weight (their reputation);
- borda:     points n-1 .. 0 by rank over the n options, as a share of the most possible;
- unanimity: every voter who did not abstain chose the winner.

A decision is *reached* when the winner's support is above the threshold, or complete
(support 1.0 always suffices, so a threshold of 1.0 means unanimity). `threshold_for`
maps a task's criticality in [0, 1] onto thresholds from 0.5 (more than half) to 1.0.
Abstentions count in no denominator. When no round reaches the threshold, the runtime
lets voters see each other's ballots and revise, a bounded number of times, and then
settles by `fallback_vote`, which always names a winner.

Ties are broken the same way everywhere: the option offered first (its place in
`options`) wins; without an option list, the lexicographically smallest key wins. The
outcome never depends on the order of the ballots.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

from pydantic import Field

from lamas.errors import InputError
from lamas.protocol._validation import parse
from lamas.protocol.cards import Skill
from lamas.protocol.messages import Wire

# Beware: the top-level `lamas.Rule` is the access-policy rule of lamas.runtime.policy.
Rule = Literal["majority", "weighted", "borda", "unanimity"]
RULES: tuple[Rule, ...] = get_args(Rule)

VOTE_SKILL = "consensus.vote"
"""The skill a voting agent offers: it gets a `VoteRequest` and answers with a `VoteReply`."""

CRITICALITY: Mapping[str, float] = MappingProxyType(
    {
        "song_choice": 0.0,  # threshold 0.5: more than half
        "recommendation": 0.2,  # 0.6
        "booking": 0.5,  # 0.75: more than three quarters
        "purchase": 0.7,  # 0.85
        "payment": 0.9,  # 0.95: 19 of 20 is not enough
        "irreversible": 1.0,  # 1.0: everyone
    }
)
"""Named criticality levels, so that callers say what a task is rather than pick a number."""


class InvalidVote(InputError):
    """A ballot, option list or weight cannot be counted (unknown option, double vote, ...)."""


def threshold_for(criticality: float | str) -> float:
    """The support a decision needs for a task of this criticality: 0.5 + 0.5 * criticality.

    Criticality is a number in [0, 1] or a name in `CRITICALITY`; 0 (a song choice) needs
    more than half, 1 (an irreversible act) needs everyone. Linear, so it is monotone and
    easy to reason about: each tenth of criticality asks for 5 more points of agreement.
    """
    if isinstance(criticality, str):
        try:
            criticality = CRITICALITY[criticality]
        except KeyError:
            known = ", ".join(CRITICALITY)
            raise ValueError(
                f"unknown criticality level {criticality!r}; known levels: {known}"
            ) from None
    if (
        isinstance(criticality, bool)
        or not isinstance(criticality, int | float)
        or not 0.0 <= criticality <= 1.0
    ):
        raise ValueError(
            f"criticality must be a number in [0, 1] (0 = a song choice, 1 = irreversible), "
            f"got {criticality!r}"
        )
    return 0.5 + 0.5 * float(criticality)


@dataclass(frozen=True, slots=True)
class Option:
    """A candidate answer, offered by `proposer`; `key` names it on ballots."""

    key: str
    proposer: str
    data: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.key:
            raise InvalidVote(f"an option offered by {self.proposer!r} has an empty key")

    def to_wire(self) -> dict[str, Any]:
        return {"key": self.key, "proposer": self.proposer, "data": self.data}


@dataclass(frozen=True, slots=True)
class Ballot:
    """One voter's vote: a `choice` (None = abstain) and, for Borda, a `ranking`, best first.

    A ranking, if given, must start with the choice; a choice alone ranks only itself
    (`Ballot("v", "a").ranking == ("a",)`), so equal votes are equal ballots.
    """

    voter: str
    choice: str | None
    ranking: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.voter:
            raise InvalidVote("a ballot has no voter")
        if not self.ranking and self.choice is not None:
            object.__setattr__(self, "ranking", (self.choice,))  # frozen: set once, here
        elif self.ranking:
            if self.choice != self.ranking[0]:
                raise InvalidVote(
                    f"ballot of {self.voter!r}: the ranking must start with the choice "
                    f"({self.choice!r}), but starts with {self.ranking[0]!r}"
                )
            if len(set(self.ranking)) != len(self.ranking):
                raise InvalidVote(f"ballot of {self.voter!r} ranks an option twice")

    @property
    def abstains(self) -> bool:
        return self.choice is None

    def to_wire(self) -> dict[str, Any]:
        return {"voter": self.voter, "choice": self.choice, "ranking": list(self.ranking)}


@dataclass(frozen=True, slots=True)
class Decision:
    """What a vote decided, and how firmly.

    Act on `winner`; `reached` says the rule's threshold was met by agreement, `fallback`
    that the winner was forced by a plurality vote after negotiation ran out (then
    `reached` is False). `support` is the winner's share of the non-abstaining votes or
    weight, or its Borda points over the most possible. `tied` lists the options that shared
    the top score, in tie-break order (more than one means the tie-break chose).
    """

    winner: str | None
    rule: Rule | Literal["plurality"]
    support: float
    threshold: float
    reached: bool
    tally: dict[str, float] = field(hash=False)
    rounds: int = 1
    fallback: bool = False
    abstentions: int = 0
    tied: tuple[str, ...] = ()
    ballots: tuple[Ballot, ...] = ()
    notes: tuple[str, ...] = field(default=(), hash=False)
    """Why voters abstained without meaning to (failed, timed out, answered garbage)."""
    history: tuple[tuple[Ballot, ...], ...] = field(default=(), hash=False)
    """Every round's ballots, first round first (set by a multi-round consensus)."""


def decide(
    ballots: Iterable[Ballot],
    rule: Rule,
    *,
    threshold: float,
    weights: Mapping[str, float] | None = None,
    options: Sequence[Option] | None = None,
) -> Decision:
    """Count `ballots` by `rule` and say whether the winner's support meets `threshold`.

    `weights` (voter -> reputation, default 1.0 each) count only under "weighted".
    With `options`, every ballot must name only those options and ties go to the one
    offered first; without, the candidates are the options the ballots name.
    Unanimity always needs support 1.0, whatever `threshold` says.
    """
    if rule not in RULES:
        raise ValueError(f"unknown voting rule {rule!r}; rules: {', '.join(RULES)}")
    _check_threshold(threshold)
    ballots = tuple(ballots)
    candidates = _candidates(ballots, options)
    weighed = _weights(weights)  # checked under every rule: a negative weight is a bug anywhere
    weight_of = weighed if rule == "weighted" else _equal
    voting = [b for b in ballots if not b.abstains]

    if rule == "borda" and len(candidates) > 1:
        tally = _borda(voting, candidates)
        most = float((len(candidates) - 1) * len(voting))
    else:
        # Borda over a single option scores nobody; count it like a majority instead, so
        # that everyone ranking the only option gives it full support.
        tally = {
            k: math.fsum(weight_of(b.voter) for b in voting if b.choice == k) for k in candidates
        }
        most = math.fsum(weight_of(b.voter) for b in voting)
    if rule == "unanimity":
        threshold = 1.0

    winner, tied, support = _top(tally, candidates, most)
    return Decision(
        winner=winner,
        rule=rule,
        support=support,
        threshold=threshold,
        reached=winner is not None and (support > threshold or support >= 1.0),
        tally=tally,
        abstentions=len(ballots) - len(voting),
        tied=tied,
        ballots=ballots,
    )


def fallback_vote(ballots: Iterable[Ballot], options: Sequence[Option]) -> Decision:
    """Plurality over `options`: the most chosen wins, ties go to the one offered first.

    Always names a winner, so that a task never deadlocks: if every voter abstains, the
    first option offered wins (support 0.0). `reached` stays False: nobody agreed to this.
    """
    if not options:
        raise InvalidVote("a fallback vote needs at least one option to choose from")
    ballots = tuple(ballots)
    candidates = _candidates(ballots, options)
    voting = [b for b in ballots if not b.abstains]
    tally = {k: float(sum(1 for b in voting if b.choice == k)) for k in candidates}
    if voting:
        winner, tied, support = _top(tally, candidates, float(len(voting)))
    else:
        winner, tied, support = candidates[0], candidates, 0.0
    return Decision(
        winner=winner,
        rule="plurality",
        support=support,
        threshold=0.0,
        reached=False,
        tally=tally,
        fallback=True,
        abstentions=len(ballots) - len(voting),
        tied=tied,
        ballots=ballots,
    )


# --- what travels: the consensus.vote skill's request and reply ------------


class WireOption(Wire):
    key: str = Field(min_length=1)
    proposer: str
    data: dict[str, Any] = Field(default_factory=dict)

    def to_option(self) -> Option:
        return Option(self.key, self.proposer, dict(self.data))


class WireBallot(Wire):
    voter: str = Field(min_length=1)
    choice: str | None
    ranking: tuple[str, ...] = ()


class VoteRequest(Wire):
    """What a voter is asked in one round: the options, and the others' last ballots."""

    question: str
    options: tuple[WireOption, ...] = Field(min_length=1)
    round: int = Field(ge=1)
    previous: tuple[WireBallot, ...] = ()

    @classmethod
    def parse(cls, data: str | bytes | dict[str, Any]) -> VoteRequest:
        return parse(cls, data, "vote request")


class VoteReply(Wire):
    """A voter's answer: a choice (null = abstain), optionally a full ranking, best first.

    The choice is required, so that an answer with no vote in it is an error, not a silent
    abstention."""

    choice: str | None
    ranking: tuple[str, ...] = ()
    reason: str | None = None


def vote_skill(description: str = "votes on candidate answers to a question") -> Skill:
    """The card entry of an agent that votes, with the request and reply schemas."""
    return Skill(
        name=VOTE_SKILL,
        description=description,
        input_schema=VoteRequest.model_json_schema(),
        output_schema=VoteReply.model_json_schema(),
    )


def vote_request(
    question: str,
    options: Sequence[Option],
    round: int,
    previous: Iterable[Ballot],
    *,
    voter: str,
) -> dict[str, Any]:
    """The data sent to `voter` in round `round`: the others' ballots of the last round.

    A voter's own last ballot is left out: it knows what it said, and seeing itself
    counted among "the others" would overstate how popular its choice is.
    """
    return {
        "question": question,
        "options": [o.to_wire() for o in options],
        "round": round,
        "previous": [b.to_wire() for b in previous if b.voter != voter],
    }


def parse_vote(voter: str, data: dict[str, Any], options: Sequence[Option]) -> Ballot:
    """Turn a voter's reply data into its ballot, or raise (MalformedMessage, InvalidVote)."""
    reply = parse(VoteReply, data, "vote")
    ranking = reply.ranking
    if reply.choice is None and ranking:
        raise InvalidVote(f"{voter!r} ranked options but chose none; abstain with no ranking")
    ballot = Ballot(voter, reply.choice, ranking)
    _check_known(ballot, {o.key for o in options})
    return ballot


def options_from_reply(proposer: str, data: dict[str, Any]) -> list[Option]:
    """The options in one provider's reply: `{"offers": [{...}, ...]}` gives one option per
    offer, any other data is one option. Keys are `proposer:id`, where id is the offer's
    own "key" or "offer_id" if it has one, else its position; the prefix keeps the keys of
    different providers apart."""
    offers = data.get("offers")
    if offers is None:
        offers = [data]
    elif not isinstance(offers, list) or not all(isinstance(o, dict) for o in offers):
        raise InvalidVote(f"{proposer!r} replied with 'offers' that is not a list of objects")
    if not offers or offers == [{}]:
        raise InvalidVote(f"{proposer!r} offered nothing")
    made: list[Option] = []
    for n, offer in enumerate(offers):
        own = offer.get("key", offer.get("offer_id"))
        ident = own if isinstance(own, str | int) and str(own) else n
        made.append(Option(f"{proposer}:{ident}", proposer, offer))
    _check_unique(made)
    return made


# --- internals ---------------------------------------------------------------


def _equal(voter: str) -> float:
    return 1.0


def _check_threshold(threshold: float) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] (see threshold_for), got {threshold!r}")


def _check_unique(options: Sequence[Option]) -> None:
    keys = [o.key for o in options]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise InvalidVote(f"option keys must be unique; repeated: {', '.join(repeated)}")


def _check_known(ballot: Ballot, known: set[str]) -> None:
    unknown = [k for k in ballot.ranking if k not in known]
    if unknown:
        shown = ", ".join(sorted(known)) or "none"
        raise InvalidVote(
            f"ballot of {ballot.voter!r} names unknown option {unknown[0]!r}; "
            f"known options: {shown}"
        )


def _candidates(ballots: Sequence[Ballot], options: Sequence[Option] | None) -> tuple[str, ...]:
    """The options to count, in tie-break order; checks the ballots against them."""
    voters = [b.voter for b in ballots]
    twice = sorted({v for v in voters if voters.count(v) > 1})
    if twice:
        raise InvalidVote(f"each voter votes once; more than one ballot from: {', '.join(twice)}")
    if options is None:
        return tuple(sorted({k for b in ballots for k in b.ranking}))
    _check_unique(options)
    known = {o.key for o in options}
    for ballot in ballots:
        _check_known(ballot, known)
    return tuple(o.key for o in options)


def _weights(weights: Mapping[str, float] | None) -> Callable[[str], float]:
    table = dict(weights or {})
    for voter, weight in table.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise InvalidVote(f"weight of {voter!r} must be a number, got {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise InvalidVote(f"weight of {voter!r} must be finite and not negative, got {weight}")

    def weight_of(voter: str) -> float:
        return float(table.get(voter, 1.0))

    return weight_of


def _borda(voting: Sequence[Ballot], candidates: Sequence[str]) -> dict[str, float]:
    """n-1 points for a ballot's first option, n-2 for its second, ...; unranked get 0."""
    top = len(candidates) - 1
    tally = dict.fromkeys(candidates, 0.0)
    for ballot in voting:
        for place, key in enumerate(ballot.ranking):
            tally[key] += top - place
    return tally


def _top(
    tally: dict[str, float], candidates: Sequence[str], most: float
) -> tuple[str | None, tuple[str, ...], float]:
    """The winner (first of the tied in candidate order), the tied, and the winner's support.

    No winner when nobody could score: every ballot abstained, or every voter weighs 0.
    """
    if not candidates or most <= 0:
        return None, (), 0.0
    best = max(tally[k] for k in candidates)
    tied = tuple(k for k in candidates if tally[k] == best)
    return tied[0], tied, best / most
