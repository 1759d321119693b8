"""Long-term episodic memory: what an agent lived through, searchable by meaning, in the store."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from lamas.agent.embeddings import Embedder
from lamas.errors import ConfigError
from lamas.store.tables import episodes


@dataclass(frozen=True, slots=True)
class Episode:
    id: int
    agent_id: str
    text: str
    meta: dict[str, Any]
    created_at: float


class EpisodicMemory:
    """One agent's episodes in the `episodes` table, each with its embedding.

    Search embeds the query and ranks the agent's episodes by cosine similarity.
    Episodes written by a different embedder are refused at search time with a
    clear error instead of being compared in the wrong vector space.
    """

    def __init__(self, engine: Engine, embedder: Embedder, agent_id: str) -> None:
        self.engine = engine
        self.embedder = embedder
        self.agent_id = agent_id

    def add(self, text: str, meta: dict[str, Any] | None = None) -> int:
        import numpy as np

        vector = np.asarray(self.embedder.embed([text])[0], dtype=np.float32)
        with self.engine.begin() as connection:
            result = connection.execute(
                insert(episodes).values(
                    agent_id=self.agent_id,
                    text=text,
                    meta=meta or {},
                    embedding=vector.tobytes(),
                    embedder=self.embedder.name,
                    created_at=time.time(),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def search(self, query: str, k: int = 5) -> list[tuple[Episode, float]]:
        """The `k` episodes most similar to `query`, best first, with their cosine scores."""
        import numpy as np

        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(episodes).where(episodes.c.agent_id == self.agent_id).order_by(episodes.c.id)
            ).all()
        if not rows:
            return []
        foreign = sorted({r.embedder for r in rows} - {self.embedder.name})
        if foreign:
            raise ConfigError(
                f"episodes of {self.agent_id!r} were embedded with {', '.join(foreign)}, "
                f"not {self.embedder.name}; search with the same embedder"
            )
        matrix = np.stack([np.frombuffer(r.embedding, dtype=np.float32) for r in rows])
        scores = matrix @ np.asarray(self.embedder.embed([query])[0], dtype=np.float32)
        best = np.argsort(-scores)[:k]
        return [(_episode(rows[i]), float(scores[i])) for i in best]

    def all(self) -> list[Episode]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(episodes).where(episodes.c.agent_id == self.agent_id).order_by(episodes.c.id)
            ).all()
        return [_episode(r) for r in rows]

    def forget(self, episode_id: int) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(episodes).where(
                    episodes.c.id == episode_id, episodes.c.agent_id == self.agent_id
                )
            )
            return result.rowcount > 0


def _episode(row: Any) -> Episode:
    return Episode(row.id, row.agent_id, row.text, dict(row.meta), row.created_at)
