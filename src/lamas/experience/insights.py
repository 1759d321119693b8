"""The shared insight pool: distilled lessons agents publish and others retrieve by
similarity, admitted only when shown to help (in the spirit of SEDM's verified write
admission).

Admission, in order:
1. the text passes the memory-poisoning gate's screen (an injected instruction is
   refused before it reaches any prompt, even a replay's);
2. the tasks it came from are replayed without it and with it (`Replay`, given by the
   caller: it re-runs the steps); it is admitted only if it does at least as well with
   it, and its measured utility is the gain;
3. a near-duplicate of an active entry is consolidated into that entry (the better
   text is kept, sources merged) instead of added;
4. the write itself goes through the gate (signed provenance in guarded memory).

Each entry's utility is then updated by what happens when it is used (`report`); entries
are ranked by similarity weighted by utility; low-utility and stale entries are retired,
and the pool keeps at most `capacity` active entries.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine, insert, select, update

from lamas.errors import InputError
from lamas.experience.patterns import Embed
from lamas.store.experience_tables import insights

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class AdmissionGate(Protocol):
    """The memory-poisoning admission control every pool write goes through."""

    def check(self, text: str, *, author: str, task_id: str) -> None:
        """Raise (an `InputError`) if `text` must not enter shared memory."""

    def write(self, text: str, *, author: str, task_id: str) -> int:
        """Admit `text` with its provenance; returns the guarded memory's entry id."""

    def forget(self, memory_id: int) -> None: ...


Replay = Callable[[Sequence[str], str | None], Awaitable[float]]
"""Re-run the given source tasks with an insight (or None: without); their success, 0-1."""


@dataclass(frozen=True, slots=True)
class Insight:
    id: int
    text: str
    capability: str | None
    author: str
    sources: tuple[str, ...]
    utility: float
    baseline: float
    uses: int
    wins: int
    active: bool
    retired_why: str | None
    created_at: float
    last_used_at: float


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: bool
    reason: str
    baseline: float
    with_insight: float
    insight: Insight | None = None
    consolidated_into: int | None = None


class InsightPool:
    def __init__(
        self,
        engine: Engine,
        embed: Embed,
        embedder_name: str,
        gate: AdmissionGate,
        *,
        capacity: int = 50,
        duplicate_similarity: float = 0.92,
        retire_below: float = -0.05,
        min_uses_to_retire: int = 5,
        stale_after: float = 30 * 86400,
        learning_rate: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity < 1:
            raise InputError(f"capacity must be at least 1, got {capacity}")
        self.engine = engine
        self.embed = embed
        self.embedder_name = embedder_name
        self.gate = gate
        self.capacity = capacity
        self.duplicate_similarity = duplicate_similarity
        self.retire_below = retire_below
        self.min_uses_to_retire = min_uses_to_retire
        self.stale_after = stale_after
        self.learning_rate = learning_rate
        self.clock = clock

    # --- admission ----------------------------------------------------------------------

    async def propose(
        self,
        text: str,
        *,
        author: str,
        sources: Sequence[str],
        replay: Replay,
        capability: str | None = None,
    ) -> Admission:
        """Verify `text` and admit it if it helps on the tasks it came from. A text the
        gate refuses raises its error (`MemoryRejected`) and changes nothing."""
        text = text.strip()
        if not text or not sources:
            raise InputError("an insight needs text and at least one source task to verify on")
        self.gate.check(text, author=author, task_id=sources[0])
        baseline = await replay(sources, None)
        helped = await replay(sources, text)
        if helped < baseline:
            return Admission(False, "does worse on its source tasks", baseline, helped)
        vector = self.embed([text])[0]
        twin = self._nearest(vector, capability)
        gain = helped - baseline
        if twin is not None and twin[1] >= self.duplicate_similarity:
            merged = self._consolidate(twin[0], text, vector, author, sources, gain, baseline)
            return Admission(
                True, "consolidated with a similar entry", baseline, helped, merged, twin[0].id
            )
        memory_id = self.gate.write(text, author=author, task_id=sources[0])
        now = self.clock()
        with self.engine.begin() as connection:
            key = connection.execute(
                insert(insights).values(
                    text=text,
                    capability=capability,
                    author=author,
                    sources=list(dict.fromkeys(sources)),
                    utility=gain,
                    baseline=baseline,
                    uses=0,
                    wins=0,
                    active=True,
                    created_at=now,
                    last_used_at=now,
                    embedding=_bytes(vector),
                    embedder=self.embedder_name,
                    memory_id=memory_id,
                )
            ).inserted_primary_key
        assert key is not None
        self.retire()
        return Admission(True, "does at least as well", baseline, helped, self.get(int(key[0])))

    def _consolidate(
        self,
        kept: Insight,
        text: str,
        vector: NDArray[np.float32],
        author: str,
        sources: Sequence[str],
        gain: float,
        baseline: float,
    ) -> Insight:
        """Merge a near-duplicate into `kept`: the text with the higher gain stays."""
        values: dict[str, Any] = {"sources": list(dict.fromkeys([*kept.sources, *sources]))}
        if gain > kept.utility:
            memory_id = self.gate.write(text, author=author, task_id=sources[0])
            values.update(
                text=text,
                author=author,
                utility=gain,
                baseline=baseline,
                embedding=_bytes(vector),
                memory_id=memory_id,
            )
        with self.engine.begin() as connection:
            connection.execute(update(insights).where(insights.c.id == kept.id).values(**values))
        return self.get(kept.id)

    # --- use ----------------------------------------------------------------------------

    def retrieve(
        self, query: str, *, capability: str | None = None, k: int = 3
    ) -> list[tuple[Insight, float]]:
        """The `k` active entries best for `query`: similarity weighted by utility."""
        rows = self._active(capability)
        if not rows:
            return []
        import numpy as np

        matrix = np.stack([_vector(r.embedding) for r in rows])
        similarity = matrix @ self.embed([query])[0]
        scored = [
            (_insight(row), float(s) * (1.0 + max(-0.9, row.utility)))
            for row, s in zip(rows, similarity, strict=True)
        ]
        best = sorted(scored, key=lambda pair: -pair[1])[:k]
        now = self.clock()
        with self.engine.begin() as connection:
            connection.execute(
                update(insights)
                .where(insights.c.id.in_([i.id for i, _ in best]))
                .values(last_used_at=now)
            )
        return best

    def report(self, insight_id: int, ok: bool) -> Insight:
        """An outcome of a step that used the entry: its utility moves toward the gain
        over its baseline (1 or 0 minus the success rate without it)."""
        entry = self.get(insight_id)
        gain = (1.0 if ok else 0.0) - entry.baseline
        utility = entry.utility + self.learning_rate * (gain - entry.utility)
        with self.engine.begin() as connection:
            connection.execute(
                update(insights)
                .where(insights.c.id == insight_id)
                .values(
                    utility=utility,
                    uses=entry.uses + 1,
                    wins=entry.wins + int(ok),
                    last_used_at=self.clock(),
                )
            )
        self.retire()
        return self.get(insight_id)

    # --- upkeep -------------------------------------------------------------------------

    def ranked(self, capability: str | None = None) -> list[Insight]:
        """Active entries, highest utility first."""
        return sorted(
            (_insight(r) for r in self._active(capability)), key=lambda i: (-i.utility, i.id)
        )

    def retire(self) -> list[Insight]:
        """Retire entries that proved useless, went stale, or overflow the capacity."""
        now = self.clock()
        why: dict[int, str] = {}
        active = self.ranked()
        for entry in active:
            if entry.uses >= self.min_uses_to_retire and entry.utility < self.retire_below:
                why[entry.id] = f"utility {entry.utility:.2f} after {entry.uses} uses"
            elif now - entry.last_used_at > self.stale_after:
                why[entry.id] = f"unused for {(now - entry.last_used_at) / 86400:.0f} days"
        kept = [e for e in active if e.id not in why]
        for entry in kept[self.capacity :]:
            why[entry.id] = f"outranked (pool keeps {self.capacity})"
        with self.engine.begin() as connection:
            for entry_id, reason in why.items():
                connection.execute(
                    update(insights)
                    .where(insights.c.id == entry_id)
                    .values(active=False, retired_why=reason)
                )
        for entry in active:
            if entry.id in why:
                self._forget(entry.id)
        return [self.get(i) for i in why]

    def get(self, insight_id: int) -> Insight:
        with self.engine.connect() as connection:
            row = connection.execute(select(insights).where(insights.c.id == insight_id)).first()
        if row is None:
            raise InputError(f"no insight {insight_id}")
        return _insight(row)

    def all(self) -> list[Insight]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(insights).order_by(insights.c.id)).all()
        return [_insight(r) for r in rows]

    def _forget(self, insight_id: int) -> None:
        with self.engine.connect() as connection:
            memory_id = connection.execute(
                select(insights.c.memory_id).where(insights.c.id == insight_id)
            ).scalar_one_or_none()
        if memory_id is not None:
            self.gate.forget(int(memory_id))

    def _active(self, capability: str | None) -> list[Any]:
        query = select(insights).where(insights.c.active.is_(True))
        if capability is not None:
            query = query.where(
                (insights.c.capability == capability) | insights.c.capability.is_(None)
            )
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(insights.c.id)).all()
        foreign = sorted({r.embedder for r in rows} - {self.embedder_name})
        if foreign:
            raise InputError(
                f"the insight pool holds entries embedded with {', '.join(foreign)}, not "
                f"{self.embedder_name}: open it with the same embedder"
            )
        return list(rows)

    def _nearest(
        self, vector: NDArray[np.float32], capability: str | None
    ) -> tuple[Insight, float] | None:
        rows = [r for r in self._active(None) if r.capability == capability]
        if not rows:
            return None
        scored = [(r, float(_vector(r.embedding) @ vector)) for r in rows]
        row, similarity = max(scored, key=lambda pair: pair[1])
        return _insight(row), similarity


def _bytes(vector: NDArray[np.float32]) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


def _vector(raw: bytes) -> NDArray[np.float32]:
    import numpy as np

    return np.frombuffer(raw, dtype=np.float32)


def _insight(row: Any) -> Insight:
    return Insight(
        id=row.id,
        text=row.text,
        capability=row.capability,
        author=row.author,
        sources=tuple(row.sources),
        utility=row.utility,
        baseline=row.baseline,
        uses=row.uses,
        wins=row.wins,
        active=bool(row.active),
        retired_why=row.retired_why,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )
