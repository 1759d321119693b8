"""Instruction processing accuracy: routing and slot filling on tests/data/instructions.jsonl.

For each labelled instruction of the demo networks:
- routing: the plan's capabilities (clauses routed by MiniLM similarity, plus the
  steps they require) must equal the expected set exactly;
- slots: each expected input value must be what the slot filler produced, with
  each embedded model (normalised: case, spaces, punctuation).

Routing does not use the chat model, so its figure is the same for every model;
slot filling is where the models differ. "Today" is fixed at 2026-11-25 so that
relative dates are checkable. Prints a table and writes JSON to benchmarks/results/.

Run: `python benchmarks/routing.py [--models smollm2-135m,qwen2.5-coder-1.5b] [--limit N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from _results import finish  # benchmarks/ is on the path when run as a script
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from lamas.agent.embeddings import MiniLMEmbedder
from lamas.llm.local import LocalModel
from lamas.protocol.cards import Skill
from lamas.protocol.instruction import build_plan, routable_skills, route_clauses
from lamas.runtime.netfile import load_spec
from lamas.runtime.router import CapabilityRouter
from lamas.runtime.slots import SlotFiller

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "instructions.jsonl"
TODAY = dt.date(2026, 11, 25)
ORCHESTRATORS = ("orchestrator", "music-orchestrator")


def normalise(value: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "", str(value).casefold())


def load_routers(embedder: MiniLMEmbedder) -> dict[str, tuple[dict[str, Skill], CapabilityRouter]]:
    routers = {}
    for network in ("travel", "music"):
        spec = load_spec(ROOT / "examples" / network / "network.yaml")
        skills = routable_skills((a.card for a in spec.agents), exclude=ORCHESTRATORS)
        routers[network] = (skills, CapabilityRouter(skills, embedder))
    return routers


async def evaluate(models: list[str], limit: int | None) -> dict[str, Any]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    rows = rows[:limit] if limit else rows
    embedder = MiniLMEmbedder()
    routers = load_routers(embedder)

    routed_ok = 0
    routing_misses = []
    plans: list[tuple[dict[str, Any], dict[str, str]]] = []  # row, capability -> clause
    for row in rows:
        skills, router = routers[row["network"]]
        routed = route_clauses(row["instruction"], router.scores, threshold=router.threshold)
        try:
            plan = build_plan(row["instruction"], routed, skills)
            clauses = {s.capability: s.instruction for s in plan.steps}
        except Exception:
            clauses = {}
        if set(clauses) == set(row["capabilities"]):
            routed_ok += 1
        else:
            routing_misses.append(
                {
                    "instruction": row["instruction"],
                    "expected": row["capabilities"],
                    "got": sorted(clauses),
                }
            )
        plans.append((row, clauses))

    result: dict[str, Any] = {
        "instructions": len(rows),
        "routing_accuracy": routed_ok / len(rows),
        "routing_misses": routing_misses,
        "models": {},
    }
    for name in models:
        model = LocalModel(name)
        filler = SlotFiller(model, today=TODAY)
        expected_total = correct = 0
        misses = []
        started = time.perf_counter()
        with Progress(console=Console(stderr=True), transient=True) as progress:
            job = progress.add_task(f"slots with {name}", total=len(plans))
            for row, clauses in plans:
                skills, _ = routers[row["network"]]
                for capability, wanted in row["slots"].items():
                    expected_total += len(wanted)
                    if capability not in clauses:
                        misses.append(
                            {
                                "instruction": row["instruction"],
                                "capability": capability,
                                "why": "not routed",
                            }
                        )
                        continue
                    filled = await filler.fill(skills[capability], clauses[capability])
                    for slot, value in wanted.items():
                        got = filled.values.get(slot)
                        if normalise(got) == normalise(value):
                            correct += 1
                        else:
                            misses.append(
                                {
                                    "instruction": row["instruction"],
                                    "slot": f"{capability}.{slot}",
                                    "expected": value,
                                    "got": got,
                                }
                            )
                progress.advance(job)
        result["models"][name] = {
            "slot_accuracy": correct / expected_total if expected_total else 0.0,
            "slots_expected": expected_total,
            "slots_correct": correct,
            "seconds": time.perf_counter() - started,
            "tokens": model.usage.total_tokens,
            "misses": misses,
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="smollm2-135m,qwen2.5-coder-1.5b")
    parser.add_argument("--limit", type=int, default=None, help="only the first N instructions")
    args = parser.parse_args()
    result = asyncio.run(evaluate([m for m in args.models.split(",") if m], args.limit))

    table = Table(title=f"instruction processing on {result['instructions']} labelled instructions")
    for column in (
        "model",
        "routing accuracy",
        "slot accuracy",
        "slots",
        "seconds",
        "target routing",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    targets = {"qwen2.5-coder-1.5b": 0.90, "smollm2-135m": 0.75}
    for name, figures in result["models"].items():
        table.add_row(
            name,
            f"{result['routing_accuracy']:.1%}",
            f"{figures['slot_accuracy']:.1%}",
            f"{figures['slots_correct']}/{figures['slots_expected']}",
            f"{figures['seconds']:.0f}",
            f">= {targets.get(name, 0):.0%}",
        )
    Console().print(table)
    for miss in result["routing_misses"]:
        print(
            f"routing miss: {miss['instruction']!r}: expected {miss['expected']}, got {miss['got']}"
        )
    return finish("routing", result)


if __name__ == "__main__":
    raise SystemExit(main())
