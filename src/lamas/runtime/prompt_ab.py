"""A/B test of the orchestrator's slot-filling system prompt (paper §2.4, tuning-free).

Each variant gets an orchestrator of its own (built by the caller: same network, same
model, `slot_prompt=` the variant); `PromptABTest` assigns each next instruction to a
variant (every variant its `min_trials` first, then Thompson sampling), the task runs
through that orchestrator, and its measured success (by default: the task completed
without asking back) is recorded, until one variant is best with the test's confidence
or `max_trials` have run. The verdict is the confident winner, else the variant with
the best measured success so far (`decided` says which).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lamas.errors import InputError
from lamas.experience.ab import PromptABTest, VariantStats
from lamas.protocol.tasks import TaskState
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.session import Session

Succeeded = Callable[[str, Session], bool]
"""Whether the task for an instruction succeeded."""


def completed(instruction: str, session: Session) -> bool:
    return session.task.state is TaskState.COMPLETED


def filled_as_labelled(labels: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Succeeded:
    """Success for instructions with known slots (`labels[instruction][capability][field]`):
    the task completed and every labelled (non-null) slot was filled as labelled."""

    def succeeded(instruction: str, session: Session) -> bool:
        if session.task.state is not TaskState.COMPLETED or session.plan is None:
            return False
        filled = {s.capability: session.slots.get(s.id, {}) for s in session.plan.steps}
        return all(
            filled.get(capability, {}).get(name) == value
            for capability, slots in labels[instruction].items()
            for name, value in slots.items()
            if value is not None
        )

    return succeeded


@dataclass(frozen=True, slots=True)
class PromptVerdict:
    best: str
    """The winner: confident if `decided`, else the best measured success rate."""
    decided: bool
    stats: list[VariantStats]
    trials: int


async def ab_slot_prompts(
    variants: Mapping[str, str],
    instructions: Sequence[str],
    make: Callable[[str], Orchestrator],
    *,
    succeeded: Succeeded = completed,
    seed: int | None = None,
    min_trials: int = 10,
    confidence: float = 0.95,
    max_trials: int = 200,
    before: Callable[[str], None] | None = None,
) -> PromptVerdict:
    """Run `instructions` (in turn for each variant, repeated as needed) through orchestrators whose
    slot-filling system prompt is each variant (a template that may use {today});
    `before` is called with each instruction first (a scripted model's labels, say)."""
    if not instructions:
        raise InputError("an A/B test of prompts needs instructions to run")
    test = PromptABTest(variants, seed=seed, min_trials=min_trials, confidence=confidence)
    orchestrators = {name: make(prompt) for name, prompt in variants.items()}
    trials = 0
    while trials < max_trials and test.winner() is None:
        name, _ = test.assign()
        # Each variant goes through the instructions in the same order.
        instruction = instructions[test.trials[name] % len(instructions)]
        if before is not None:
            before(instruction)
        session = await orchestrators[name].submit(instruction)
        test.record(name, succeeded(instruction, session))
        trials += 1
    winner = test.winner()
    stats = test.stats()
    best = winner or max(stats, key=lambda s: (s.success_rate, s.trials)).name
    return PromptVerdict(best, winner is not None, stats, trials)
