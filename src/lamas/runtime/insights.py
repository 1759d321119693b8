"""The shared insight pool at work in the orchestrator (paper §2.3, cross-agent sharing).

- `InsightUse` is how an orchestrator uses admitted insights: as its agent selector (an
  insight that says "for ticket.book, prefer railgo over swiftrail" sends the step to
  railgo when railgo offers it, even where the step would otherwise go to a vote), and
  as notes in its slot-filling prompt (insights that state no agent preference). It
  reports each used insight's outcome back to the pool (`InsightPool.report`), from the
  experience records of the steps it steered (attach `observe` to
  `ExperienceRecorder.on_record`), so an insight that stops helping loses utility and
  is retired.
- `OrchestratorReplay` is the pool's `Replay`: it re-runs an insight's source tasks
  through a fresh orchestrator over a fresh network (as the caller builds them, faults
  included), once without the insight and once with it, and measures the share that
  complete. Slot filling replays what the original run took from the user's words (the
  records' `filled`), so the replay measures the insight, not the model's mood.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamas.experience.patterns import preference
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatModel
from lamas.protocol.cards import Skill
from lamas.protocol.experience import ExperienceRecord
from lamas.protocol.tasks import TaskState
from lamas.runtime.router import AgentSelector
from lamas.runtime.slots import LabelledSlots

if TYPE_CHECKING:
    from lamas.agent.embeddings import Embedder
    from lamas.experience.insights import InsightPool
    from lamas.experience.store import ExperienceStore
    from lamas.runtime.orchestrator import Orchestrator

Lesson = tuple[int | None, str]
"""An insight to act on: its pool id (None for one under test, not yet in the pool), text."""
Lessons = Callable[[str, str], Sequence[Lesson]]
"""The lessons for a capability and a query text."""

PENDING_PER_KEY = 100
"""Used insights awaiting an outcome, per (capability, agent): a task that failed before
the steered step ran leaves one behind; the oldest are dropped."""


def from_pool(pool: InsightPool, *, k: int = 3) -> Lessons:
    """The `k` admitted insights best for a capability and query (similarity x utility)."""

    def lessons(capability: str, query: str) -> list[Lesson]:
        found = pool.retrieve(query, capability=capability, k=k)
        return [(insight.id, insight.text) for insight, _ in found]

    return lessons


def fixed(texts: Iterable[str]) -> Lessons:
    """The same lessons for every capability (an insight under test, in a replay)."""
    held = [(None, text) for text in texts]
    return lambda capability, query: held


class InsightUse:
    """Admitted insights as an orchestrator's agent selector and slot-filling notes."""

    def __init__(
        self,
        lessons: Lessons,
        *,
        inner: AgentSelector | None = None,
        pool: InsightPool | None = None,
    ) -> None:
        """`inner` chooses where no insight names an offering agent (None: the
        providers' vote); `pool` hears how each used insight's steps went."""
        self.lessons = lessons
        self.inner = inner
        self.pool = pool
        self.selected_by: str | None = None
        """How the last choice was made: 'insight', the inner selector's, or None."""
        self.used: list[tuple[int | None, str, str]] = []
        """Every insight acted on: (its id, the capability, what it did)."""
        self._pending: dict[tuple[str, str | None], deque[int]] = defaultdict(
            lambda: deque(maxlen=PENDING_PER_KEY)
        )

    @classmethod
    def of_pool(
        cls, pool: InsightPool, *, k: int = 3, inner: AgentSelector | None = None
    ) -> InsightUse:
        return cls(from_pool(pool, k=k), inner=inner, pool=pool)

    # --- as the agent selector ----------------------------------------------------------

    def choose(
        self, capability: str, agents: Sequence[str], *, later: Sequence[str] = ()
    ) -> str | None:
        """The agent an insight prefers for this step or for a `later` step that will go
        to the same agent (a booking insight steers the search whose offer is booked);
        agents an insight says to avoid are left out of the inner selector's choice."""
        candidates = list(agents)
        for served in (capability, *later):
            for insight_id, text in self.lessons(served, f"{served}: {', '.join(agents)}"):
                stated = preference(text)
                if stated is None:
                    continue
                if stated.prefer in candidates:
                    self._steered(insight_id, served, stated.prefer, f"chose {stated.prefer}")
                    self.selected_by = "insight"
                    return stated.prefer
                if stated.avoid in candidates and len(candidates) > 1:
                    candidates.remove(stated.avoid)
                    self._steered(insight_id, served, None, f"left out {stated.avoid}")
        if len(candidates) < len(agents) and (len(candidates) == 1 or self.inner is None):
            self.selected_by = "insight"
            return candidates[0] if len(candidates) == 1 else None
        if self.inner is None:
            self.selected_by = None
            return None
        chosen = self.inner.choose(capability, candidates, later=later)
        self.selected_by = getattr(self.inner, "selected_by", None) or "bandit"
        return chosen

    # --- as notes in the slot-filling prompt ---------------------------------------------

    def notes(self, skill: Skill, request: str) -> list[str]:
        """Insights for this skill that state no agent preference (those act through the
        selection), to be shown to the slot-filling model."""
        told = []
        for insight_id, text in self.lessons(skill.name, request):
            if preference(text) is None:
                told.append(text)
                self._steered(insight_id, skill.name, None, "noted")
        return told

    # --- reporting outcomes ---------------------------------------------------------------

    def _steered(
        self, insight_id: int | None, capability: str, agent: str | None, did: str
    ) -> None:
        self.used.append((insight_id, capability, did))
        if insight_id is not None:
            self._pending[(capability, agent)].append(insight_id)

    def observe(self, record: ExperienceRecord) -> None:
        """A step's record: report its outcome for the insights that steered it."""
        if self.pool is None:
            return
        reported: set[int] = set()
        for key in ((record.capability, record.agent), (record.capability, None)):
            waiting = self._pending.get(key)
            while waiting:
                insight_id = waiting.popleft()
                if insight_id not in reported:
                    reported.add(insight_id)
                    self.pool.report(insight_id, record.outcome.ok)
                if key[1] is not None:
                    break  # one steered choice, one step


Build = Callable[[ChatModel, InsightUse], "Orchestrator"]
"""A fresh orchestrator over a fresh network, slot filling with the given model and
using the given insights (`selector=use, notes=use.notes`)."""


class OrchestratorReplay:
    """The pool's `Replay`: re-run source tasks through the real orchestrator."""

    def __init__(self, store: ExperienceStore, build: Build, *, max_tasks: int = 8) -> None:
        self.store = store
        self.build = build
        self.max_tasks = max_tasks
        self.runs = 0
        """Tasks replayed so far (each proposal replays its sources twice)."""

    async def __call__(self, sources: Sequence[str], insight: str | None) -> float:
        tasks = list(dict.fromkeys(sources))
        if len(tasks) > self.max_tasks:  # evenly spread (sources list one agent's first)
            tasks = [tasks[i * len(tasks) // self.max_tasks] for i in range(self.max_tasks)]
        # The slot filler answers as the original run filled (the values its records kept).
        recorded = LabelledSlots()
        use = InsightUse(fixed([insight] if insight else []))
        orchestrator = self.build(ScriptedModel(responder=recorded), use)
        completed = 0
        for task_id in tasks:
            records = self.store.records(task_id=task_id)
            if not records:
                continue
            recorded.labels = {r.capability: r.filled for r in records}
            session = await orchestrator.submit(records[0].instruction)
            completed += session.task.state is TaskState.COMPLETED
            self.runs += 1
        return completed / len(tasks) if tasks else 0.0


def netfile_build(
    path: str | Path,
    embedder: Embedder,
    *,
    orchestrator_id: str | None = None,
    faults: Sequence[tuple[str, str, float]] = (),
    seed: int = 0,
    defended: bool = True,
    **options: Any,
) -> Build:
    """A `Build` for the network file at `path`: each call builds the network anew (its
    agents, their data, `faults` injected as (agent, skill, rate) with the same `seed`,
    so a replay with and one without an insight meet the same coins)."""
    from lamas.runtime.faults import inject_faults
    from lamas.runtime.netfile import build, load_spec
    from lamas.runtime.orchestrator import Orchestrator

    spec = load_spec(path)
    hub = orchestrator_id or spec.topology.hub
    card = next((a.card for a in spec.agents if a.card.id == hub), None)
    if card is None:
        from lamas.errors import ConfigError

        raise ConfigError(
            f"{path} has no orchestrator agent {hub!r}: name it (its card id in the file)"
        )
    profile = next((a.card.vault_fields for a in spec.agents if a.card.entity == "user"), ())
    if options.get("today"):  # the vendors check dates against the same today
        from lamas.runtime.today import stamp_today

        options = {
            **options,
            "middleware": [stamp_today(options["today"]), *options.get("middleware", ())],
        }

    def make(model: ChatModel, use: InsightUse) -> Orchestrator:
        assert card is not None
        network = build(
            spec, base_dir=Path(path).resolve().parent, external=[card.id], defended=defended
        )
        orchestrator = Orchestrator(
            network,
            model,
            embedder,
            agent_id=card.id,
            selector=use,
            notes=use.notes,
            profile_fields=profile if spec.topology.centralized else (),
            **options,
        )
        orchestrator.join(card)
        for number, (agent, skill, rate) in enumerate(faults):
            inject_faults(network, agent, skill, rate, seed=seed + number)
        return orchestrator

    return make
