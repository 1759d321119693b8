"""Route a clause of an instruction to the skill it asks for, by embedding similarity.

Each skill is represented by its name and description and by its example requests;
a clause scores the best cosine similarity over a skill's texts. No model writes
the routing decision, so a tiny model cannot derail it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lamas.agent.embeddings import Embedder
from lamas.protocol.cards import Skill
from lamas.protocol.instruction import skill_text

if TYPE_CHECKING:
    from lamas.agent.embeddings import Vectors

DEFAULT_THRESHOLD = 0.3


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
                texts.append(text)
                self._owner.append(index)
        self._matrix: Vectors = embedder.embed(texts)
        self._cache: dict[str, list[tuple[str, float]]] = {}

    def scores(self, clause: str) -> list[tuple[str, float]]:
        """Every skill with its similarity to `clause`, best first."""
        cached = self._cache.get(clause)
        if cached is not None:
            return cached
        similarities = self._matrix @ self.embedder.embed([clause])[0]
        best = [-1.0] * len(self.names)
        for row, owner in enumerate(self._owner):
            best[owner] = max(best[owner], float(similarities[row]))
        ranked = sorted(zip(self.names, best, strict=True), key=lambda pair: -pair[1])
        self._cache[clause] = ranked
        return ranked
