"""The A/B harness on the orchestrator's slot-filling prompt: two variants run the
travel instruction set through the real orchestrator, the better is picked by measured
success."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES, TODAY  # tests/experience is on the path

from lamas.agent.embeddings import MiniLMEmbedder
from lamas.errors import InputError
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.runtime.insights import InsightUse, fixed, netfile_build
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.prompt_ab import ab_slot_prompts, filled_as_labelled
from lamas.runtime.slots import SYSTEM, LabelledSlots

DATA = Path(__file__).resolve().parents[1] / "data" / "instructions.jsonl"
TERSE = "Extract the fields of the service call from the request as JSON."


class NamesOnlyIfTold(LabelledSlots):
    """A scripted model that answers each instruction's labelled slots, but, like a
    small model not told how, leaves the places out unless its system prompt says to copy
    them. (Dates no longer depend on the prompt: they are resolved without the model.)"""

    def __call__(self, messages: list[ChatMessage], schema: dict[str, Any] | None) -> Any:
        told = "Copy names of places" in messages[0].content
        return {
            name: None if name in ("origin", "destination", "city") and not told else value
            for name, value in super().__call__(messages, schema).items()
        }


def labelled_travel() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["network"] == "travel" and r.get("slots")]


async def test_the_better_slot_filling_prompt_wins_by_measured_success(
    minilm: MiniLMEmbedder,
) -> None:
    rows = labelled_travel()
    labels = {r["instruction"]: r["slots"] for r in rows}
    model = NamesOnlyIfTold()
    built: dict[str, Orchestrator] = {}

    def make(prompt: str) -> Orchestrator:
        orchestrator = netfile_build(
            EXAMPLES / "travel" / "network.yaml", minilm, today=TODAY, slot_prompt=prompt
        )(ScriptedModel(responder=model), InsightUse(fixed([])))
        # Names found by the vendors' vocabularies need no model; without them the prompt
        # decides again whether the places reach the search (what this test compares).
        orchestrator.vocabularies = {}
        built[prompt] = orchestrator
        return orchestrator

    def before(instruction: str) -> None:
        model.labels = labels[instruction]

    verdict = await ab_slot_prompts(
        {"stock": SYSTEM, "terse": TERSE},
        [r["instruction"] for r in rows],
        make,
        succeeded=filled_as_labelled(labels),
        before=before,
        seed=5,
        min_trials=8,
    )
    assert verdict.decided
    assert verdict.best == "stock"
    stats = {s.name: s for s in verdict.stats}
    # Every labelled travel instruction gives a date: without its format, none is right.
    assert (stats["stock"].success_rate, stats["terse"].success_rate) == (1.0, 0.0)
    assert verdict.trials == stats["stock"].trials + stats["terse"].trials
    # The variants really were the orchestrators' prompts.
    assert built[TERSE].filler.system == TERSE


async def test_an_ab_test_needs_instructions() -> None:
    with pytest.raises(InputError, match="instructions"):
        await ab_slot_prompts({"a": "x", "b": "y"}, [], lambda p: None)  # type: ignore[arg-type,return-value]
