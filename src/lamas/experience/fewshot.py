"""Few-shot examples from an agent's own successful experience.

The steps an agent served well (succeeded, and no negative feedback from the user) are
candidate examples; those whose request is most similar to the new one are put in its
prompt as worked examples: the request and the answer it gave.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lamas.experience.patterns import Embed
from lamas.experience.store import ExperienceStore
from lamas.protocol.experience import ExperienceRecord


@dataclass(frozen=True, slots=True)
class Example:
    request: str
    answer: str
    record_id: str


def example_of(record: ExperienceRecord, *, answer: str = "inputs") -> Example:
    """A record as an example: the clause it served, and the inputs it was given (what an
    orchestrator's slot filler should answer) or the output it returned (what the
    serving agent should answer)."""
    value = record.slot_answer if answer == "inputs" else record.output
    return Example(record.step_instruction, json.dumps(value, sort_keys=True), record.id)


class FewShotRetriever:
    def __init__(
        self,
        store: ExperienceStore,
        embed: Embed,
        *,
        answer: str = "inputs",
        pool_size: int = 500,
    ) -> None:
        self.store = store
        self.embed = embed
        self.answer = answer
        self.pool_size = pool_size

    def examples(
        self,
        request: str,
        *,
        agent: str | None = None,
        capability: str | None = None,
        k: int = 3,
        exclude: str | None = None,
    ) -> list[Example]:
        """Up to `k` examples for `request`, most similar first, from `agent`'s (or
        anyone's) successful steps at `capability`; `exclude` drops an identical request
        (to keep a benchmark from showing a model its own answer)."""
        import numpy as np

        records = [
            r
            for r in self.store.records(
                agent=agent, capability=capability, ok=True, newest_first=True, limit=self.pool_size
            )
            if (r.outcome.feedback is None or r.outcome.feedback >= 0)
            and r.step_instruction != exclude
        ]
        # One example per distinct request: repeats teach nothing new.
        seen: dict[str, ExperienceRecord] = {}
        for record in records:
            seen.setdefault(record.step_instruction, record)
        candidates = list(seen.values())
        if not candidates:
            return []
        matrix = self.embed([r.step_instruction for r in candidates])
        scores = matrix @ self.embed([request])[0]
        order = np.argsort(-scores)[:k]
        return [example_of(candidates[int(i)], answer=self.answer) for i in order]
