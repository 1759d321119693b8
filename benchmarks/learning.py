"""Learning-curve benchmark: does learning from experience raise success and cut cost?

The travel and music instruction sets (tests/data/instructions.jsonl, as in
benchmarks/routing.py) run for several rounds over the example networks, with a fault
injected in one provider:
- travel: one of the two rail vendors fails 50% of its bookings;
- music: the song agent runs as 3 replicas (`replicas: 3`), and one replica fails 50%
  of its `song.play` calls.
Which vendor or replica is faulty turns with the seed, so no arm gains from where the
fault sits (the stock orchestrator always prefers the same one). A no-fault run of the
stock orchestrator gives the ceiling.

Three arms, each from an empty experience store, on the same instructions and faults:
- `default`: the stock orchestrator (competing vendors settled by consensus, replicas
  by the first offer); it does not learn;
- `no-learning`: an agent picked uniformly at random among those offering the step
  (what the bandit does with no experience; the replica load-balancing baseline);
- `learning`: the experience router (Thompson sampling over each agent's records,
  fed by the experience recorder after every step).

Per round: success rate (tasks completed / tasks submitted; a task that asks the user
back counts as not completed, in every arm alike), and cost: list prices of every skill
call made that round (a call that failed by injected fault is not charged), per task
and per completed task. Slot filling is the scripted model answering with each
instruction's labelled slots (so the figures measure agent selection, not the LLM);
routing is the real MiniLM router. The networks run without the default defences
(signatures, rate limits): see `build_network`.

`--qwen N` adds a small run on the embedded Qwen model (slow: ~10 tok/s): slot filling
on N travel instructions, without and then with few-shot examples retrieved from the
orchestrator's successful fills of the first pass (never the instruction's own).

Every figure is the mean over `--seeds` repeats (each seed changes the fault coin and
the samplers' draws).

Run: `python benchmarks/learning.py [--rounds 6] [--seeds 6] [--qwen 6]` (or `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
from _results import finish  # benchmarks/ is on the path when run as a script
from rich.console import Console
from rich.table import Table

from lamas.agent.embeddings import MiniLMEmbedder
from lamas.experience.store import ExperienceStore
from lamas.llm import ScriptedModel
from lamas.protocol.messages import Envelope
from lamas.protocol.tasks import TaskState
from lamas.runtime.experience_hook import ExperienceRecorder
from lamas.runtime.faults import inject_faults
from lamas.runtime.netfile import build, load_spec
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.router import ExperienceRouter
from lamas.runtime.slots import LabelledSlots
from lamas.store import create_engine

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "instructions.jsonl"
TODAY = dt.date(2026, 11, 25)
ORCHESTRATOR = {"travel": "orchestrator", "music": "music-orchestrator"}
# Which provider is faulty turns with the seed, so that no arm is favoured by where the
# fault happens to sit (the stock orchestrator always prefers the same vendor/replica).
FAULTS = {
    "travel": (("swiftrail", "railgo"), "ticket.book"),
    "music": (("songs-1", "songs-2", "songs-3"), "song.play"),
}
REPLICAS = {"music": {"songs": 3}}
FAULT_RATE = 0.5
ARMS = ("default", "no-learning", "learning")


class RandomSelector:
    """Picks uniformly among the agents offering a step: the bandit without experience."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def choose(self, capability: str, agents: Sequence[str], *, later: Sequence[str] = ()) -> str:
        return self.random.choice(list(agents))


def rows(network: str) -> list[dict[str, Any]]:
    lines = DATA.read_text().splitlines()
    return [r for r in (json.loads(x) for x in lines if x.strip()) if r["network"] == network]


def faulty_for(name: str, seed: int) -> tuple[str, str]:
    candidates, skill = FAULTS[name]
    return candidates[(seed - 1) % len(candidates)], skill


def build_network(
    name: str, embedder: MiniLMEmbedder, arm: str, seed: int, db: Path, rate: float = FAULT_RATE
) -> Any:
    spec = load_spec(ROOT / "examples" / name / "network.yaml")
    replicas = REPLICAS.get(name, {})
    if replicas:
        agents = [
            a.model_copy(update={"replicas": replicas.get(a.card.id, a.replicas)})
            for a in spec.agents
        ]
        spec = spec.model_copy(update={"agents": agents})
    orchestrator_id = ORCHESTRATOR[name]
    # Without the default defences: their per-caller rate limit (50 calls/s) would
    # throttle a benchmark that runs hundreds of tasks back to back, and signing and
    # rate limits are measured elsewhere; agent selection is what is measured here.
    network = build(
        spec, base_dir=ROOT / "examples" / name, external=[orchestrator_id], defended=False
    )
    labelled = LabelledSlots()
    selector: Any = None
    if arm == "no-learning":
        selector = RandomSelector(seed)
    elif arm == "learning":
        selector = ExperienceRouter(seed=seed)
    profile = next((a.card.vault_fields for a in spec.agents if a.card.entity == "user"), ())
    orchestrator = Orchestrator(
        network,
        ScriptedModel(responder=labelled),
        embedder,
        agent_id=orchestrator_id,
        today=TODAY,
        selector=selector,
        profile_fields=profile if spec.topology.centralized else (),
    )
    card = next(a.card for a in spec.agents if a.card.id == orchestrator_id)
    orchestrator.join(card)
    store = ExperienceStore(create_engine(f"sqlite:///{db}"))
    recorder = ExperienceRecorder(store, orchestrator)
    if isinstance(selector, ExperienceRouter):
        recorder.on_record.append(selector.observe)
    faulty, skill = faulty_for(name, seed)
    counter = inject_faults(network, faulty, skill, rate, seed=seed)
    return orchestrator, labelled, store, counter


def price_of(network: Any, envelope: Envelope) -> Decimal:
    try:
        price = network.card(envelope.recipient).price(envelope.skill or "")
    except Exception:
        return Decimal(0)
    return price.amount if price is not None and price.unit == "call" else Decimal(0)


async def run_arm(
    name: str,
    arm: str,
    rounds: int,
    seed: int,
    embedder: MiniLMEmbedder,
    folder: Path,
    rate: float = FAULT_RATE,
) -> dict[str, Any]:
    orchestrator, labelled, store, counter = build_network(
        name, embedder, arm, seed, folder / f"{name}-{arm}-{seed}-{rate}.db", rate
    )
    network = orchestrator.network
    spent: list[Decimal] = []
    network.transport.observers.append(lambda e: spent.append(price_of(network, e)))
    per_round = []
    instructions = rows(name)
    for index in range(rounds):
        spent.clear()
        failed_before = counter.failed
        outcomes = {"completed": 0, "failed": 0, "asked": 0}
        started = time.perf_counter()
        for row in instructions:
            labelled.labels = row.get("slots", {})
            session = await orchestrator.submit(row["instruction"])
            if session.task.state is TaskState.COMPLETED:
                outcomes["completed"] += 1
            elif session.task.state is TaskState.INPUT_REQUIRED:
                outcomes["asked"] += 1
            else:
                outcomes["failed"] += 1
        faulted = counter.failed - failed_before
        cost = sum(spent, Decimal(0))  # a call refused by fault is never delivered: not seen
        n = len(instructions)
        per_round.append(
            {
                "round": index + 1,
                **outcomes,
                "faults_hit": faulted,
                "success_rate": outcomes["completed"] / n,
                "cost": float(cost),
                "cost_per_task": float(cost) / n,
                "cost_per_completed": float(cost) / max(1, outcomes["completed"]),
                "seconds": time.perf_counter() - started,
            }
        )
    return {
        "arm": arm,
        "network": name,
        "faulty": faulty_for(name, seed)[0],
        "rounds": per_round,
        "records": store.count(),
    }


async def qwen_few_shot(
    limit: int, embedder: MiniLMEmbedder, folder: Path, model_name: str = "qwen2.5-coder-1.5b"
) -> dict[str, Any]:
    """Slot filling on the embedded model, without and then with few-shot examples from
    the successful fills of the first pass (leave-one-out)."""
    from lamas.experience.fewshot import FewShotRetriever
    from lamas.llm.local import LocalModel
    from lamas.protocol.experience import ExperienceRecord, StepOutcome
    from lamas.protocol.instruction import build_plan, routable_skills, route_clauses
    from lamas.runtime.router import CapabilityRouter
    from lamas.runtime.slots import SlotFiller

    spec = load_spec(ROOT / "examples" / "travel" / "network.yaml")
    skills = routable_skills((a.card for a in spec.agents), exclude=["orchestrator"])
    router = CapabilityRouter(skills, embedder)
    model = LocalModel(model_name)
    store = ExperienceStore(create_engine(f"sqlite:///{folder / 'qwen.db'}"))
    retriever = FewShotRetriever(store, embedder.embed)
    labelled = [r for r in rows("travel") if r.get("slots")]
    chosen = labelled[:: max(1, len(labelled) // limit)][:limit]  # spread over the set
    steps = []
    for row in chosen:
        routed = route_clauses(row["instruction"], router.scores, threshold=router.threshold)
        try:
            plan = build_plan(row["instruction"], routed, skills)
        except Exception:
            continue
        for step in plan.steps:
            if step.capability in row["slots"]:
                steps.append((row, step))

    def correct(expected: dict[str, Any], got: dict[str, Any]) -> int:
        norm = lambda v: re.sub(r"[^a-z0-9]+", "", str(v).casefold())  # noqa: E731
        return sum(norm(got.get(k)) == norm(v) for k, v in expected.items())

    passes: dict[str, Any] = {}
    current: dict[str, str] = {}
    for mode in ("without", "with"):

        def shots(skill: Any, request: str) -> list[tuple[str, str]]:
            found = retriever.examples(
                request, agent="orchestrator", capability=skill.name, k=1, exclude=current["clause"]
            )
            return [(e.request, e.answer) for e in found]

        filler = SlotFiller(model, today=TODAY, few_shot=shots if mode == "with" else None)
        right = total = exact = 0
        started = time.perf_counter()
        for row, step in steps:
            current["clause"] = step.instruction
            filled = await filler.fill(skills[step.capability], step.instruction)
            expected = row["slots"][step.capability]
            hits = correct(expected, filled.values)
            right, total, exact = (
                right + hits,
                total + len(expected),
                exact + (hits == len(expected)),
            )
            if mode == "without" and hits == len(expected):
                # A fill that served is the orchestrator's successful experience.
                store.add(
                    ExperienceRecord(
                        task_id=f"qwen-{len(steps)}-{step.id}-{row['instruction'][:20]}",
                        instruction=row["instruction"],
                        step_id=step.id,
                        capability=step.capability,
                        step_instruction=step.instruction,
                        agent="orchestrator",
                        inputs={k: v for k, v in filled.values.items() if v is not None},
                        outcome=StepOutcome(ok=True),
                        at=time.time(),
                    )
                )
        passes[mode] = {
            "steps": len(steps),
            "slot_accuracy": right / max(1, total),
            "exact_steps": exact,
            "seconds": time.perf_counter() - started,
        }
    return {"instructions": len(chosen), "model": model_name, **passes}


def aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per network and arm, each round's figures averaged over the seeds."""
    out = []
    for name in ORCHESTRATOR:
        for arm in ARMS:
            mine = [r for r in runs if r["network"] == name and r["arm"] == arm]
            if not mine:
                continue
            rounds = []
            for index in range(len(mine[0]["rounds"])):
                at = [r["rounds"][index] for r in mine]
                rounds.append(
                    {
                        key: statistics.mean(x[key] for x in at)
                        for key in at[0]
                        if isinstance(at[0][key], int | float)
                    }
                )
            out.append({"network": name, "arm": arm, "seeds": len(mine), "rounds": rounds})
    return out


def show(console: Console, results: list[dict[str, Any]]) -> None:
    for name in ("travel", "music"):
        arms = [r for r in results if r["network"] == name]
        if not arms:
            continue
        candidates, skill = FAULTS[name]
        table = Table(
            title=f"{name}: success rate and cost per task, by round, mean of "
            f"{arms[0]['seeds']} seeds (one of {', '.join(candidates)} fails "
            f"{FAULT_RATE:.0%} of {skill}, turn by turn)"
        )
        table.add_column("round", justify="right")
        for arm in arms:
            table.add_column(f"{arm['arm']} success", justify="right")
            table.add_column(f"{arm['arm']} cost/task", justify="right")
        for index in range(len(arms[0]["rounds"])):
            cells = [str(index + 1)]
            for arm in arms:
                r = arm["rounds"][index]
                cells += [f"{r['success_rate']:.0%}", f"{r['cost_per_task']:.3f}"]
            table.add_row(*cells)
        console.print(table)


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in results:
        later = r["rounds"][1:] or r["rounds"]
        out[f"{r['network']}/{r['arm']}"] = {
            "first_round_success": r["rounds"][0]["success_rate"],
            "last_round_success": r["rounds"][-1]["success_rate"],
            "median_success_after_round_1": statistics.median(x["success_rate"] for x in later),
            "median_cost_per_completed_after_round_1": statistics.median(
                x["cost_per_completed"] for x in later
            ),
        }
    return out


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=6, help="repeats (fault site, coins)")
    parser.add_argument("--networks", default="travel,music")
    parser.add_argument(
        "--qwen", type=int, default=0, help="instructions for the few-shot run (embedded model)"
    )
    parser.add_argument(
        "--fewshot-model",
        default="qwen2.5-coder-1.5b",
        help="the embedded model of the few-shot run (smollm2-135m: the weak test model)",
    )
    args = parser.parse_args()
    console = Console()
    embedder = MiniLMEmbedder()
    runs = []
    networks = [n for n in args.networks.split(",") if n in ORCHESTRATOR]
    with tempfile.TemporaryDirectory(prefix="lamas-learning-") as tmp:
        folder = Path(tmp)
        for seed in range(1, args.seeds + 1):
            for name in networks:
                for arm in ARMS:
                    with console.status(f"seed {seed}, {name}: {arm}, {args.rounds} rounds..."):
                        run = await run_arm(name, arm, args.rounds, seed, embedder, folder)
                    runs.append({**run, "seed": seed})
        results = aggregate(runs)
        show(console, results)
        # The ceiling: the stock orchestrator with no fault (what no selection can beat).
        ceiling = {
            name: (await run_arm(name, "default", 1, 1, embedder, folder, rate=0.0))["rounds"][0]
            for name in networks
        }
        qwen = (
            await qwen_few_shot(args.qwen, embedder, folder, args.fewshot_model)
            if args.qwen
            else None
        )
    result: dict[str, Any] = {
        "rounds": args.rounds,
        "seeds": args.seeds,
        "fault_rate": FAULT_RATE,
        "faults": {k: {"candidates": list(v[0]), "skill": v[1]} for k, v in FAULTS.items()},
        "ceiling_without_faults": ceiling,
        "arms": results,
        "runs": runs,
        "summary": summary(results),
        "qwen_few_shot": qwen,
    }
    table = Table(title="summary (means over seeds; every arm starts from no experience)")
    for column in ("network/arm", "round 1", "last round", "median 2+", "cost/completed 2+"):
        table.add_column(column, justify="left" if column == "network/arm" else "right")
    for key, s in result["summary"].items():
        table.add_row(
            key,
            f"{s['first_round_success']:.0%}",
            f"{s['last_round_success']:.0%}",
            f"{s['median_success_after_round_1']:.0%}",
            f"{s['median_cost_per_completed_after_round_1']:.3f}",
        )
    console.print(table)
    for name, top in ceiling.items():
        console.print(
            f"ceiling (no fault, stock orchestrator) {name}: success {top['success_rate']:.0%}, "
            f"cost/completed {top['cost_per_completed']:.3f}"
        )
    if qwen:
        q = Table(
            title=f"few-shot slot filling on {qwen['model']} ({qwen['instructions']} instructions)"
        )
        for column in ("pass", "steps", "slot accuracy", "exact steps", "seconds"):
            q.add_column(column)
        for mode in ("without", "with"):
            p = qwen[mode]
            q.add_row(
                mode,
                str(p["steps"]),
                f"{p['slot_accuracy']:.0%}",
                str(p["exact_steps"]),
                f"{p['seconds']:.0f}",
            )
        console.print(q)
    # A few-shot-only run (`--networks none`) gets a file of its own, beside the curves.
    name = "learning" if networks else f"learning-fewshot-{args.fewshot_model}"
    return finish(name, result)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
