"""Route a clause of an instruction to the skill it asks for, by embedding similarity.

Each skill is represented by its name and description and by its example requests;
a clause scores the best cosine similarity over a skill's texts. No model writes
the routing decision, so a tiny model cannot derail it.

A whole-sentence embedding tells "a hotel" from "a train" well but "find" from
"book" badly, so routing has two stages: the sentence picks the best skill, then,
among that skill and the ones linked to it by `requires` (search and book), the
clause's opening verb picks the action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from lamas.agent.embeddings import Embedder
from lamas.experience.bandit import ReplicaBandit
from lamas.protocol.cards import Skill
from lamas.protocol.experience import ExperienceRecord
from lamas.protocol.instruction import (
    action_texts,
    mask_names,
    related_by_requirement,
    skill_text,
    verb_phrase,
)

if TYPE_CHECKING:
    from lamas.agent.embeddings import Vectors

DEFAULT_THRESHOLD = 0.3
ACTION_MARGIN = 0.05
"""How much better a committing action (book) must fit the verb than its search."""


class CapabilityRouter:
    def __init__(
        self,
        skills: Mapping[str, Skill],
        embedder: Embedder,
        *,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.names = list(skills)
        texts: list[str] = []
        self._owner: list[int] = []
        for index, skill in enumerate(skills.values()):
            for text in skill_text(skill):
                texts.append(mask_names(text))
                self._owner.append(index)
        self._matrix: Vectors = embedder.embed(texts)
        self._cache: dict[str, list[tuple[str, float]]] = {}
        self._skills = dict(skills)
        self._actions = {
            name: embedder.embed(action_texts(skill)) for name, skill in skills.items()
        }

    def scores(self, clause: str) -> list[tuple[str, float]]:
        """Every skill with its similarity to `clause`, best first."""
        cached = self._cache.get(clause)
        if cached is not None:
            return cached
        similarities = self._matrix @ self.embedder.embed([mask_names(clause)])[0]
        best = [-1.0] * len(self.names)
        for row, owner in enumerate(self._owner):
            best[owner] = max(best[owner], float(similarities[row]))
        ranked = sorted(zip(self.names, best, strict=True), key=lambda pair: -pair[1])
        if ranked:
            ranked = self._by_action(clause, ranked)
        self._cache[clause] = ranked
        return ranked

    def _by_action(self, clause: str, ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """Swap the top skill for the member of its search/book family whose action the
        clause's verb names; the top score is kept (it measures the family's match).

        A skill that builds on another (book on search) commits to something, so it is
        chosen only when the verb says so clearly; without a clear verb, the family's
        first step (the search) is chosen.
        """
        top, score = ranked[0]
        family = related_by_requirement(top, self._skills)
        if len(family) < 2:
            return ranked
        roots = [name for name in family if not set(self._skills[name].requires) & set(family)]
        verb = verb_phrase(clause)
        chosen = roots[0] if roots else top
        if verb:
            said = self.embedder.embed([verb])[0]
            fit = {name: float((self._actions[name] @ said).max()) for name in family}
            best = max(family, key=fit.__getitem__)
            if best in roots or fit[best] >= max(fit[r] for r in roots) + ACTION_MARGIN:
                chosen = best
        if chosen == top:
            return ranked
        rest = [(name, s) for name, s in ranked if name not in (top, chosen)]
        return [(chosen, score), (top, score), *rest]


class AgentSelector(Protocol):
    def choose(
        self, capability: str, agents: Sequence[str], *, later: Sequence[str] = ()
    ) -> str | None:
        """One of `agents` to serve `capability` (and the `later` capabilities that will
        go to the same agent), or None to leave the choice to the providers' vote."""
        ...


class ExperienceRouter:
    """Prefers, among the agents (replicas, competing vendors) that offer a capability,
    the ones with better records: Thompson sampling over their success (a new agent
    starts optimistic, so it gets tried). Learns from each new experience record
    (attach `observe` to an `ExperienceRecorder.on_record`) and from stored ones."""

    def __init__(
        self, *, seed: int | None = None, history: Iterable[ExperienceRecord] = ()
    ) -> None:
        self.bandit = ReplicaBandit(seed=seed)
        self.bandit.learn(history)

    def choose(self, capability: str, agents: Sequence[str], *, later: Sequence[str] = ()) -> str:
        return self.bandit.choose(capability, agents, later=later)

    def observe(self, record: ExperienceRecord) -> None:
        if record.agent != "(none)":
            self.bandit.update(record.capability, record.agent, record.outcome.ok)
