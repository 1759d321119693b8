"""The sharing loop: distil lessons from recorded experience, verify them, pool them.

`share` reads the experience store, distils candidate insights (`patterns.distill`: an
agent that clearly does better than another at a capability), and proposes each to the
shared pool, which screens it (memory-poisoning gate), replays its source tasks with
and without it (the caller's `Replay`, e.g. `lamas.runtime.insights.OrchestratorReplay`)
and admits it only if it does at least as well. A candidate whose preference the pool
already holds is not replayed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lamas.errors import InputError
from lamas.experience.insights import Admission, InsightPool, Replay
from lamas.experience.patterns import Candidate, distill, preference
from lamas.experience.store import ExperienceStore


@dataclass(frozen=True, slots=True)
class Shared:
    candidate: Candidate
    admission: Admission | None
    """The pool's verdict (None: not replayed)."""
    refused: str | None = None
    """Why it never reached a replay: the gate refused it, or the pool already knows it."""

    @property
    def admitted(self) -> bool:
        return self.admission is not None and self.admission.admitted


async def share(
    store: ExperienceStore,
    pool: InsightPool,
    replay: Replay,
    *,
    author: str = "experience",
    min_steps: int = 5,
    min_gap: float = 0.2,
    since: float | None = None,
    extra: Sequence[Candidate] = (),
) -> list[Shared]:
    """Distil candidates from the records (since `since`), add `extra` ones (another
    agent's offering), and propose each to `pool`; one refused candidate does not stop
    the others."""
    records = store.records(since=since)
    candidates = [*distill(records, min_steps=min_steps, min_gap=min_gap), *extra]
    results = []
    for candidate in candidates:
        known = _already_pooled(pool, candidate)
        if known is not None:
            results.append(Shared(candidate, None, f"already in the pool as #{known}"))
            continue
        try:
            admission = await pool.propose(
                candidate.text,
                author=author,
                sources=candidate.sources,
                replay=replay,
                capability=candidate.capability,
            )
        except InputError as error:  # the poisoning gate's refusal among them
            results.append(Shared(candidate, None, str(error)))
            continue
        results.append(Shared(candidate, admission))
    return results


def _already_pooled(pool: InsightPool, candidate: Candidate) -> int | None:
    """The id of an active entry stating the same agent preference for the capability."""
    wanted = preference(candidate.text)
    if wanted is None:
        return None
    for entry in pool.ranked(candidate.capability):
        if entry.capability == candidate.capability and preference(entry.text) == wanted:
            return entry.id
    return None
