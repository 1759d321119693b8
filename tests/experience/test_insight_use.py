"""`InsightUse` on its own: an admitted preference steers the choice, its outcomes are
reported, and a lesson that stops holding is retired and steers no more."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from records import record  # tests/experience is on the path

from lamas.agent.admission import GuardedMemory
from lamas.agent.embeddings import HashingEmbedder
from lamas.agent.episodic import EpisodicMemory
from lamas.agent.insight_gate import POOL_MEMORY, GuardedInsightGate, detector_screen
from lamas.experience.insights import InsightPool
from lamas.experience.patterns import Preference, preference
from lamas.runtime.insights import InsightUse
from lamas.security.identity import PrivateKey
from lamas.store import create_engine

LESSON = "For ticket.book, prefer railgo (100% of 6 steps succeeded) over swiftrail (50% of 6)."


def test_preferences_are_read_from_distilled_text() -> None:
    assert preference(LESSON) == Preference("railgo", "swiftrail")
    assert preference("For song.play, prefer songs-2.") == Preference("songs-2", None)
    assert preference("In Lyon the station is Part-Dieu.") is None


class First:
    def choose(self, capability: str, agents: Sequence[str], *, later: Sequence[str] = ()) -> str:
        return agents[0]


async def test_a_lesson_that_stops_holding_is_retired_and_steers_no_more(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    embedder = HashingEmbedder()
    memory = GuardedMemory(EpisodicMemory(engine, embedder, POOL_MEMORY), screen=detector_screen)
    pool = InsightPool(
        engine, embedder.embed, embedder.name, GuardedInsightGate(memory, PrivateKey.generate())
    )

    async def replay(sources: Sequence[str], insight: str | None) -> float:
        return 1.0 if insight else 0.5

    admitted = await pool.propose(
        LESSON, author="peer", sources=["t1"], replay=replay, capability="ticket.book"
    )
    assert admitted.insight is not None
    entry_id = admitted.insight.id
    use = InsightUse.of_pool(pool)
    # A search whose offer is booked with the same vendor follows the booking lesson.
    assert use.choose("ticket.search", ["swiftrail", "railgo"], later=["ticket.book"]) == "railgo"
    assert use.selected_by == "insight"
    # No lesson for this capability and no inner selector: abstain (the vote decides).
    assert use.choose("hotel.search", ["staywell", "sleepwell"]) is None
    assert use.selected_by is None
    # Behind a lesson, another selector still gets its say, without the avoided agent.
    behind = InsightUse.of_pool(pool, inner=First())
    assert behind.choose("ticket.book", ["swiftrail", "kayak"]) == "kayak"
    assert behind.selected_by == "insight"  # swiftrail left out, one agent left

    # railgo starts failing its bookings: each steered step's failure is reported.
    for n in range(5):
        use.observe(record(task=f"t{n}", agent="railgo", ok=False, error="sold out"))
        if n < 4:
            assert use.choose("ticket.book", ["swiftrail", "railgo"]) == "railgo"
    retired = pool.get(entry_id)
    assert not retired.active
    assert retired.uses == 5
    assert retired.wins == 0
    assert "utility" in (retired.retired_why or "")
    assert use.choose("ticket.book", ["swiftrail", "railgo"]) is None  # back to the vote
    # An outcome of a step no lesson steered reports nothing.
    use.observe(record(task="t9", agent="railgo", ok=True))
    assert pool.get(entry_id).uses == 5
