"""Pattern extraction: performance over time, strategy fit, failure clusters."""

from __future__ import annotations

import pytest
from records import record  # tests/experience is on the path

from lamas.agent.embeddings import HashingEmbedder, MiniLMEmbedder
from lamas.errors import InputError
from lamas.experience.patterns import (
    distill,
    error_shape,
    failure_clusters,
    performance,
    strategy_fit,
)
from lamas.protocol.experience import instruction_kind


def test_performance_shows_an_agent_getting_worse_over_time() -> None:
    early = [record(agent="swiftrail", at=t, ok=True, cost="0.90") for t in range(10)]
    late = [
        record(agent="swiftrail", at=10 + t, ok=t % 2 == 0, error="down", seconds=2.0)
        for t in range(10)
    ]
    steady = [record(agent="railgo", at=t * 2, ok=True) for t in range(10)]

    rows = performance([*early, *late, *steady], by="agent", periods=2)

    swift = [p for p in rows if p.key == "swiftrail"]
    assert [p.period for p in swift] == [0, 1]
    assert swift[0].success_rate == 1.0
    assert swift[1].success_rate == 0.5
    assert swift[0].mean_cost == pytest.approx(0.90)
    assert swift[1].mean_seconds == pytest.approx(2.0)
    assert all(p.success_rate == 1.0 for p in rows if p.key == "railgo")
    with pytest.raises(InputError):
        performance(early, periods=0)


def test_strategy_fit_ranks_strategies_within_an_instruction_kind() -> None:
    rows = [
        *(record(selection="bandit", ok=True, at=i) for i in range(4)),
        *(record(selection="consensus", ok=i % 2 == 0, error="x", at=i) for i in range(4)),
        record(clause="find trains to Lyon", capability="ticket.search"),
    ]
    fits = strategy_fit(rows)
    booking = [f for f in fits if f.kind == "booking"]
    assert booking[0].strategy.endswith("|bandit")
    assert booking[0].success_rate == 1.0
    assert booking[1].success_rate == 0.5
    assert {f.kind for f in fits} == {"booking", "search"}


def test_instruction_kinds() -> None:
    assert instruction_kind("Book me a train and show me directions to the hotel") == (
        "booking+search+directions"
    )
    assert instruction_kind("Play some jazz") == "playback"
    assert instruction_kind("hello") == "other"


def test_errors_that_differ_only_in_ids_share_a_shape() -> None:
    assert error_shape("offer 'sr-123' not found at 09:15") == error_shape(
        "offer 'sr-999' not found at 10:40"
    )


def test_failure_clusters_group_errors_by_meaning(minilm: MiniLMEmbedder) -> None:
    messages = [
        "swiftrail: ticket.book is unavailable (injected fault)",
        "railgo: ticket.book is unavailable (injected fault)",
        "swiftrail: ticket.book is unavailable (injected fault)",
        "input to staywell.hotel.search is invalid: check_in: 'tomorrow' is not a 'date'",
        "input to staywell.hotel.search is invalid: nights: 0 is less than the minimum of 1",
    ]
    rows = [record(ok=False, error=m, agent="x", at=i) for i, m in enumerate(messages)]
    clusters = failure_clusters(rows, minilm.embed, threshold=0.7)
    assert [c.count for c in clusters] == [3, 2]
    assert "unavailable" in clusters[0].example
    assert "invalid" in clusters[1].example
    assert failure_clusters([record()], HashingEmbedder().embed) == []


def test_distill_turns_a_clear_gap_into_a_candidate_insight() -> None:
    rows = [record(task=f"a{i}", agent="railgo", at=i) for i in range(6)]
    rows += [
        record(task=f"b{i}", agent="swiftrail", ok=i % 3 == 0, error="down", at=i) for i in range(6)
    ]
    rows += [record(task="c", agent="staywell", capability="hotel.book")]
    [candidate] = distill(rows)
    assert candidate.capability == "ticket.book"
    assert candidate.text.startswith("For ticket.book, prefer railgo (100% of 6 steps")
    assert "swiftrail (33% of 6)" in candidate.text
    assert set(candidate.sources) == {f"a{i}" for i in range(6)} | {f"b{i}" for i in range(6)}
    assert distill(rows, min_gap=0.9) == []
