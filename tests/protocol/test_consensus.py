"""Consensus rules: each rule, ties, abstentions, thresholds, fallback, wire helpers."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamas.errors import InputError, LamasError, MalformedMessage
from lamas.protocol.cards import AgentCard
from lamas.protocol.consensus import (
    CRITICALITY,
    RULES,
    Ballot,
    InvalidVote,
    Option,
    Rule,
    decide,
    fallback_vote,
    options_from_reply,
    parse_vote,
    threshold_for,
    vote_request,
    vote_skill,
)

KEYS = ("a", "b", "c", "d")


def opts(*keys: str) -> list[Option]:
    return [Option(k, f"vendor-{k}", {"price": i}) for i, k in enumerate(keys)]


def votes(*choices: str | None) -> list[Ballot]:
    return [Ballot(f"v{i}", c) for i, c in enumerate(choices)]


def ranked(*rankings: str) -> list[Ballot]:
    """One ballot per string, each letter an option, best first ("" abstains)."""
    return [Ballot(f"v{i}", r[0] if r else None, tuple(r)) for i, r in enumerate(rankings)]


# --- thresholds ------------------------------------------------------------------


def test_threshold_spans_simple_majority_to_unanimity() -> None:
    assert threshold_for(0) == 0.5
    assert threshold_for(1) == 1.0
    assert threshold_for(0.5) == 0.75
    assert threshold_for("song_choice") == 0.5
    assert threshold_for("payment") > threshold_for("booking") > threshold_for("song_choice")


@given(st.floats(0, 1), st.floats(0, 1))
def test_threshold_is_monotone_and_bounded(low: float, high: float) -> None:
    low, high = sorted((low, high))
    assert 0.5 <= threshold_for(low) <= threshold_for(high) <= 1.0


@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan, math.inf, True, "nuclear", None])
def test_threshold_refuses_what_is_no_criticality(bad: Any) -> None:
    with pytest.raises(ValueError, match="criticality"):
        threshold_for(bad)


def test_named_levels_are_valid_criticalities() -> None:
    assert list(CRITICALITY.values()) == sorted(CRITICALITY.values())
    for level in CRITICALITY:
        assert 0.5 <= threshold_for(level) <= 1.0


# --- each rule with a clear winner ---------------------------------------------


def test_majority_clear_winner() -> None:
    decision = decide(votes("a", "a", "b"), "majority", threshold=0.5, options=opts("a", "b"))
    assert (decision.winner, decision.reached) == ("a", True)
    assert decision.support == pytest.approx(2 / 3)
    assert decision.tally == {"a": 2.0, "b": 1.0}
    assert (decision.rounds, decision.fallback, decision.abstentions) == (1, False, 0)
    assert decision.tied == ("a",)


def test_majority_short_of_a_high_threshold_is_not_reached() -> None:
    decision = decide(votes("a", "a", "b"), "majority", threshold=threshold_for("booking"))
    assert decision.winner == "a"
    assert decision.reached is False  # 2/3 is not more than 0.75


def test_support_must_exceed_the_threshold_not_just_meet_it() -> None:
    decision = decide(votes("a", "a", "a", "b"), "majority", threshold=0.75)
    assert decision.support == 0.75
    assert decision.reached is False


def test_weighted_high_reputation_minority_wins() -> None:
    ballots = votes("a", "b", "b")  # v0 alone for a, v1 and v2 for b
    weights = {"v0": 5.0, "v1": 1.0, "v2": 1.0}
    decision = decide(ballots, "weighted", threshold=0.5, weights=weights)
    assert decision.winner == "a"
    assert decision.support == pytest.approx(5 / 7)
    assert decision.tally == {"a": 5.0, "b": 2.0}
    assert decision.reached
    # The same ballots by head count go the other way.
    assert decide(ballots, "majority", threshold=0.5).winner == "b"


def test_weighted_voter_without_a_weight_counts_one() -> None:
    decision = decide(votes("a", "b", "b"), "weighted", threshold=0.5, weights={"v0": 1.5})
    assert decision.tally == {"a": 1.5, "b": 2.0}
    assert decision.winner == "b"


def test_weights_count_only_under_the_weighted_rule() -> None:
    heavy = {"v0": 100.0}
    assert decide(votes("a", "b", "b"), "majority", threshold=0.5, weights=heavy).winner == "b"


def test_borda_clear_winner() -> None:
    # b is everybody's first or second choice; a is loved by one and hated by two.
    ballots = ranked("abc", "bca", "cba", "bac")
    decision = decide(ballots, "borda", threshold=0.5, options=opts("a", "b", "c"))
    assert decision.tally == {"a": 3.0, "b": 6.0, "c": 3.0}
    assert decision.winner == "b"
    assert decision.support == pytest.approx(6 / 8)  # 2 points max per voter, 4 voters
    assert decision.reached


def test_borda_choice_alone_ranks_only_itself() -> None:
    ballots = [Ballot("x", "b"), *ranked("abc")]
    decision = decide(ballots, "borda", threshold=0.5, options=opts("a", "b", "c"))
    assert decision.tally == {"a": 2.0, "b": 3.0, "c": 0.0}


def test_borda_over_one_option_is_full_support() -> None:
    decision = decide(ranked("a", "a"), "borda", threshold=1.0, options=opts("a"))
    assert (decision.winner, decision.support, decision.reached) == ("a", 1.0, True)


def test_unanimity_reached_when_every_voter_agrees() -> None:
    decision = decide(votes("b", "b", None), "unanimity", threshold=0.5, options=opts("a", "b"))
    assert (decision.winner, decision.reached, decision.support) == ("b", True, 1.0)
    assert decision.threshold == 1.0  # whatever was asked for
    assert decision.abstentions == 1


def test_unanimity_fails_with_one_dissent() -> None:
    decision = decide(votes("a", "a", "a", "a", "b"), "unanimity", threshold=0.5)
    assert decision.winner == "a"
    assert decision.reached is False
    assert decision.support == pytest.approx(0.8)


# --- ties ----------------------------------------------------------------------------


def test_majority_tie_is_not_reached_and_goes_to_the_first_offered() -> None:
    decision = decide(votes("b", "b", "a", "a"), "majority", threshold=0.5, options=opts("b", "a"))
    assert decision.tied == ("b", "a")
    assert decision.winner == "b"  # offered first
    assert decision.support == 0.5
    assert decision.reached is False


def test_tie_without_options_goes_to_the_smallest_key() -> None:
    decision = decide(votes("b", "b", "a", "a"), "majority", threshold=0.5)
    assert (decision.winner, decision.tied) == ("a", ("a", "b"))


def test_tie_is_reached_when_the_threshold_is_met_anyway() -> None:
    decision = decide(votes("b", "a"), "majority", threshold=0.25, options=opts("a", "b"))
    assert (decision.winner, decision.reached, decision.tied) == ("a", True, ("a", "b"))


def test_weighted_tie_with_equal_weights() -> None:
    weights = {"v0": 2.0, "v1": 2.0}
    decision = decide(votes("b", "a"), "weighted", threshold=0.5, weights=weights)
    assert decision.tally == {"a": 2.0, "b": 2.0}
    assert (decision.winner, decision.reached, decision.tied) == ("a", False, ("a", "b"))


def test_borda_tie_goes_to_the_first_offered() -> None:
    decision = decide(ranked("ab", "ba"), "borda", threshold=0.5, options=opts("b", "a"))
    assert decision.tally == {"b": 1.0, "a": 1.0}
    assert (decision.winner, decision.tied, decision.support) == ("b", ("b", "a"), 0.5)
    assert decision.reached is False


# --- abstentions ---------------------------------------------------------------------


def test_abstentions_are_left_out_of_the_denominator() -> None:
    decision = decide(votes("a", "a", "b", None, None, None), "majority", threshold=0.5)
    assert decision.support == pytest.approx(2 / 3)
    assert decision.abstentions == 3
    assert decision.reached


@pytest.mark.parametrize("rule", RULES)
def test_all_abstain_decides_nothing(rule: Rule) -> None:
    decision = decide(votes(None, None), rule, threshold=0.5, options=opts("a", "b"))
    assert (decision.winner, decision.reached, decision.support) == (None, False, 0.0)
    assert decision.abstentions == 2
    assert decision.tally == {"a": 0.0, "b": 0.0}


def test_no_ballots_at_all_decides_nothing() -> None:
    decision = decide([], "majority", threshold=0.5)
    assert (decision.winner, decision.reached, decision.tally) == (None, False, {})


def test_voters_who_all_weigh_nothing_decide_nothing() -> None:
    decision = decide(votes("a"), "weighted", threshold=0.5, weights={"v0": 0.0})
    assert (decision.winner, decision.reached) == (None, False)


# --- fallback ------------------------------------------------------------------------


def test_fallback_is_plurality_and_never_claims_agreement() -> None:
    decision = fallback_vote(votes("a", "b", "b", "c", None), opts("a", "b", "c"))
    assert (decision.winner, decision.fallback, decision.reached) == ("b", True, False)
    assert decision.rule == "plurality"
    assert decision.support == pytest.approx(2 / 4)
    assert decision.abstentions == 1


def test_fallback_tie_goes_to_the_first_offered() -> None:
    decision = fallback_vote(votes("c", "b", "a"), opts("c", "a", "b"))
    assert (decision.winner, decision.tied) == ("c", ("c", "a", "b"))


def test_fallback_when_everybody_abstains_still_names_a_winner() -> None:
    decision = fallback_vote(votes(None, None), opts("b", "a"))
    assert (decision.winner, decision.support, decision.fallback) == ("b", 0.0, True)


def test_fallback_without_options_is_refused() -> None:
    with pytest.raises(InvalidVote, match="at least one option"):
        fallback_vote(votes("a"), [])


# --- invalid input -------------------------------------------------------------------


def test_vote_for_an_unknown_option_is_refused() -> None:
    with pytest.raises(InvalidVote, match=r"'v1' names unknown option 'z'; known options: a, b"):
        decide(votes("a", "z"), "majority", threshold=0.5, options=opts("a", "b"))


def test_ranking_an_unknown_option_is_refused() -> None:
    with pytest.raises(InvalidVote, match="unknown option 'z'"):
        decide(ranked("az"), "borda", threshold=0.5, options=opts("a", "b"))


def test_negative_weight_is_refused_under_any_rule() -> None:
    for rule in ("weighted", "majority"):
        with pytest.raises(InvalidVote, match="not negative"):
            decide(votes("a"), rule, threshold=0.5, weights={"v0": -1.0})  # type: ignore[arg-type]


@pytest.mark.parametrize("weight", [math.nan, math.inf, "3", True])
def test_weight_that_is_no_finite_number_is_refused(weight: Any) -> None:
    with pytest.raises(InvalidVote, match="weight of 'v0'"):
        decide(votes("a"), "weighted", threshold=0.5, weights={"v0": weight})


def test_double_vote_is_refused() -> None:
    with pytest.raises(InvalidVote, match="more than one ballot from: v"):
        decide([Ballot("v", "a"), Ballot("v", "b")], "majority", threshold=0.5)


def test_duplicate_option_keys_are_refused() -> None:
    with pytest.raises(InvalidVote, match="repeated: a"):
        decide(votes("a"), "majority", threshold=0.5, options=[*opts("a"), *opts("a")])


@pytest.mark.parametrize("threshold", [-0.1, 1.1, math.nan, True])
def test_threshold_out_of_range_is_refused(threshold: Any) -> None:
    with pytest.raises(ValueError, match="threshold"):
        decide(votes("a"), "majority", threshold=threshold)


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown voting rule 'dictator'"):
        decide(votes("a"), "dictator", threshold=0.5)  # type: ignore[arg-type]


def test_malformed_ballots_and_options_are_refused() -> None:
    with pytest.raises(InvalidVote, match="must start with the choice"):
        Ballot("v", "a", ("b", "a"))
    with pytest.raises(InvalidVote, match="must start with the choice"):
        Ballot("v", None, ("a",))
    with pytest.raises(InvalidVote, match="ranks an option twice"):
        Ballot("v", "a", ("a", "b", "a"))
    with pytest.raises(InvalidVote, match="no voter"):
        Ballot("", "a")
    with pytest.raises(InvalidVote, match="empty key"):
        Option("", "shop")
    assert issubclass(InvalidVote, InputError)
    assert issubclass(InvalidVote, LamasError)


# --- properties -----------------------------------------------------------------------

choices = st.one_of(st.none(), st.sampled_from(KEYS))
ballot_lists = st.lists(choices, max_size=9).map(lambda cs: votes(*cs))
ranking_lists = st.lists(
    st.one_of(st.just(""), st.permutations(KEYS).map("".join), st.sampled_from(KEYS)),
    max_size=9,
).map(lambda rs: ranked(*rs))
rules = st.sampled_from(RULES)
weight_maps = st.dictionaries(
    st.sampled_from([f"v{i}" for i in range(9)]), st.floats(0, 10), max_size=9
)


@settings(max_examples=150, deadline=None)
@given(ballot_lists | ranking_lists, rules, st.floats(0, 1), weight_maps)
def test_any_decision_is_well_formed(
    ballots: list[Ballot], rule: Rule, threshold: float, weights: dict[str, float]
) -> None:
    decision = decide(ballots, rule, threshold=threshold, weights=weights, options=opts(*KEYS))
    assert 0.0 <= decision.support <= 1.0
    assert decision.winner is None or decision.winner in KEYS
    assert set(decision.tally) == set(KEYS)
    assert decision.abstentions == sum(b.abstains for b in ballots)
    if decision.reached:
        assert decision.winner is not None
        assert decision.support > decision.threshold or decision.support == 1.0
    if decision.winner is not None:
        assert decision.tied[0] == decision.winner
        assert decision.tally[decision.winner] == max(decision.tally.values())


@settings(max_examples=100, deadline=None)
@given(ballot_lists, st.floats(0, 1))
def test_unanimity_implies_majority(ballots: list[Ballot], threshold: float) -> None:
    unanimous = decide(ballots, "unanimity", threshold=threshold)
    if unanimous.reached:
        majority = decide(ballots, "majority", threshold=threshold)
        assert majority.reached
        assert majority.winner == unanimous.winner


@settings(max_examples=100, deadline=None)
@given(ballot_lists | ranking_lists, rules, weight_maps, st.randoms(use_true_random=False))
def test_ballot_order_never_matters(
    ballots: list[Ballot], rule: Rule, weights: dict[str, float], random: Any
) -> None:
    shuffled = list(ballots)
    random.shuffle(shuffled)
    first = decide(ballots, rule, threshold=0.5, weights=weights, options=opts("c", "a", "d", "b"))
    again = decide(shuffled, rule, threshold=0.5, weights=weights, options=opts("c", "a", "d", "b"))
    assert (first.winner, first.support, first.reached, first.tally, first.tied) == (
        again.winner,
        again.support,
        again.reached,
        again.tally,
        again.tied,
    )


@settings(max_examples=100, deadline=None)
@given(ballot_lists)
def test_fallback_always_names_a_known_winner(ballots: list[Ballot]) -> None:
    decision = fallback_vote(ballots, opts(*KEYS))
    assert decision.winner in KEYS
    assert decision.fallback
    assert not decision.reached


@settings(max_examples=100, deadline=None)
@given(ballot_lists | ranking_lists, rules, st.floats(0, 1), st.floats(0, 1))
def test_a_higher_threshold_never_reaches_more(
    ballots: list[Ballot], rule: Rule, one: float, other: float
) -> None:
    low, high = sorted((one, other))
    strict = decide(ballots, rule, threshold=high)
    lenient = decide(ballots, rule, threshold=low)
    assert lenient.winner == strict.winner
    assert lenient.reached or not strict.reached


# --- the wire --------------------------------------------------------------------------


def test_vote_request_shows_a_voter_the_others_but_not_itself() -> None:
    previous = [Ballot("me", "a"), Ballot("you", "b", ("b", "a")), Ballot("they", None)]
    data = vote_request("which?", opts("a", "b"), 2, previous, voter="me")
    assert data["question"] == "which?"
    assert data["round"] == 2
    assert data["options"][0] == {"key": "a", "proposer": "vendor-a", "data": {"price": 0}}
    assert data["previous"] == [
        {"voter": "you", "choice": "b", "ranking": ["b", "a"]},
        {"voter": "they", "choice": None, "ranking": []},
    ]


def test_parse_vote_accepts_a_vote_and_refuses_nonsense() -> None:
    options = opts("a", "b")
    assert parse_vote("v", {"choice": "b", "ranking": ["b", "a"]}, options) == Ballot(
        "v", "b", ("b", "a")
    )
    assert parse_vote("v", {"choice": None}, options).abstains
    assert parse_vote("v", {"choice": "a", "reason": "cheaper"}, options) == Ballot("v", "a")
    with pytest.raises(MalformedMessage):
        parse_vote("v", {"choice": 3}, options)
    with pytest.raises(MalformedMessage):
        parse_vote("v", {"choice": "a", "mood": "grumpy"}, options)
    with pytest.raises(InvalidVote, match="unknown option 'z'"):
        parse_vote("v", {"choice": "z"}, options)
    with pytest.raises(InvalidVote, match="chose none"):
        parse_vote("v", {"choice": None, "ranking": ["a"]}, options)


def test_options_from_reply_keys_are_prefixed_by_the_proposer() -> None:
    single = options_from_reply("rail", {"offer_id": "TK1", "price": 30})
    assert single == [Option("rail:TK1", "rail", {"offer_id": "TK1", "price": 30})]
    many = options_from_reply("bus", {"offers": [{"price": 20}, {"key": "night", "price": 9}]})
    assert [o.key for o in many] == ["bus:0", "bus:night"]
    assert [o.proposer for o in many] == ["bus", "bus"]
    with pytest.raises(InvalidVote, match="offered nothing"):
        options_from_reply("bus", {})
    with pytest.raises(InvalidVote, match="not a list of objects"):
        options_from_reply("bus", {"offers": "cheap"})
    with pytest.raises(InvalidVote, match="repeated"):
        options_from_reply("bus", {"offers": [{"key": "x"}, {"key": "x"}]})


def test_vote_skill_goes_on_a_card() -> None:
    card = AgentCard(id="judge", name="Judge", entity="Court", skills=(vote_skill(),))
    skill = card.skill("consensus.vote")
    assert skill is not None
    assert "question" in skill.input_schema["properties"]
    assert "choice" in skill.output_schema["properties"]
