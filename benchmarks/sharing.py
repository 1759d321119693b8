"""Shared insights and prompt A/B: does another agent's verified lesson help, and does
the A/B harness pick the better slot-filling prompt?

1. Shared insights (travel network, one of the two rail vendors fails 50% of its
   bookings; which one turns with the seed). Per seed, three orchestrators on their own
   copy of the network, same fault:
   - `peer`: spreads its steps uniformly over the vendors (a load balancer) and records
     its experience; it is where lessons come from;
   - `default`: the stock orchestrator (vendors settled by vote); it shares nothing;
   - `shared-insights`: the stock orchestrator plus the shared pool (`InsightUse`):
     before each round, lessons are distilled from the peer's records so far
     (`distill`), and each is admitted only if replaying its source tasks through a
     fresh orchestrator over a fresh copy of the faulty network does at least as well
     with it as without (`OrchestratorReplay`); in the round, an admitted "prefer X over
     Y" steers the step, and each use's outcome is reported to the pool.
   Per round: success rate (tasks completed / submitted). Slot filling is the scripted
   model answering each instruction's labelled slots, routing the real MiniLM router.
2. Prompt A/B: the orchestrator's stock slot-filling system prompt against a terse one
   (no date format), on the labelled travel instructions, through real orchestrators;
   the scripted model leaves dates out unless the prompt gives their format (as a small
   model does). Success = completed with every labelled slot right.

Run: `python benchmarks/sharing.py [--rounds 4] [--seeds 4]` (or `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
from _results import finish  # benchmarks/ is on the path when run as a script
from learning import FAULT_RATE, ROOT, TODAY, RandomSelector, faulty_for, rows
from rich.console import Console
from rich.table import Table

from lamas.agent.admission import GuardedMemory
from lamas.agent.embeddings import MiniLMEmbedder
from lamas.agent.episodic import EpisodicMemory
from lamas.agent.insight_gate import POOL_MEMORY, GuardedInsightGate, detector_screen
from lamas.experience.insights import InsightPool
from lamas.experience.sharing import share
from lamas.experience.store import ExperienceStore
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.protocol.tasks import TaskState
from lamas.runtime.experience_hook import ExperienceRecorder
from lamas.runtime.insights import InsightUse, OrchestratorReplay, fixed, netfile_build
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.prompt_ab import ab_slot_prompts, filled_as_labelled
from lamas.runtime.slots import SYSTEM, LabelledSlots
from lamas.security.identity import PrivateKey
from lamas.store import create_engine

NETWORK = ROOT / "examples" / "travel" / "network.yaml"
ARMS = ("peer", "default", "shared-insights")
TERSE = "Extract the fields of the service call from the request as JSON."


async def run_round(orchestrator: Orchestrator, labelled: LabelledSlots) -> float:
    completed = 0
    instructions = rows("travel")
    for row in instructions:
        labelled.labels = row.get("slots", {})
        session = await orchestrator.submit(row["instruction"])
        completed += session.task.state is TaskState.COMPLETED
    return completed / len(instructions)


async def sharing_run(
    seed: int, rounds: int, embedder: MiniLMEmbedder, folder: Path
) -> dict[str, Any]:
    faulty, skill = faulty_for("travel", seed)
    engine = create_engine(f"sqlite:///{folder / f'sharing-{seed}.db'}")
    peer_store = ExperienceStore(engine)

    def build(number: int) -> Any:
        # Without the default defences (their rate limit would throttle hundreds of
        # back-to-back tasks), as in benchmarks/learning.py; each copy its own coin.
        return netfile_build(
            NETWORK,
            embedder,
            faults=[(faulty, skill, FAULT_RATE)],
            seed=seed * 100 + number,
            defended=False,
            today=TODAY,
        )

    labels = {arm: LabelledSlots() for arm in ARMS}
    peer = build(1)(
        ScriptedModel(responder=labels["peer"]), InsightUse(fixed([]), inner=RandomSelector(seed))
    )
    ExperienceRecorder(peer_store, peer)
    default = build(2)(ScriptedModel(responder=labels["default"]), InsightUse(fixed([])))
    guarded = GuardedMemory(EpisodicMemory(engine, embedder, POOL_MEMORY), screen=detector_screen)
    pool = InsightPool(
        engine, embedder.embed, embedder.name, GuardedInsightGate(guarded, PrivateKey.generate())
    )
    use = InsightUse.of_pool(pool)
    user = build(3)(ScriptedModel(responder=labels["shared-insights"]), use)
    user_store = ExperienceStore(create_engine(f"sqlite:///{folder / f'user-{seed}.db'}"))
    ExperienceRecorder(user_store, user).on_record.append(use.observe)
    replay = OrchestratorReplay(peer_store, build(4))
    per_round = []
    for index in range(rounds):
        success = {"peer": await run_round(peer, labels["peer"])}
        started = time.perf_counter()
        shared = await share(peer_store, pool, replay, author="peer")
        seconds = time.perf_counter() - started
        success["default"] = await run_round(default, labels["default"])
        used_before = len(use.used)
        success["shared-insights"] = await run_round(user, labels["shared-insights"])
        per_round.append(
            {
                "round": index + 1,
                **{f"{arm}_success": s for arm, s in success.items()},
                "proposed": len([s for s in shared if s.admission is not None]),
                "admitted": len([s for s in shared if s.admitted]),
                "admissions": [
                    {
                        "text": s.candidate.text,
                        "admitted": s.admitted,
                        "without": s.admission.baseline,
                        "with": s.admission.with_insight,
                    }
                    for s in shared
                    if s.admission is not None
                ],
                "pool_active": len(pool.ranked()),
                "insight_uses": len(use.used) - used_before,
                "share_seconds": seconds,
            }
        )
    return {
        "seed": seed,
        "faulty": faulty,
        "rounds": per_round,
        "replayed_tasks": replay.runs,
        "pool": [
            {"text": e.text, "utility": e.utility, "uses": e.uses, "wins": e.wins}
            for e in pool.ranked()
        ],
    }


class DateLiteral(LabelledSlots):
    """A scripted slot filler that leaves dates out unless its prompt gives the format."""

    def __call__(self, messages: list[ChatMessage], schema: dict[str, Any] | None) -> Any:
        told = "YYYY-MM-DD" in messages[0].content
        return {
            name: None if ("date" in name or name == "check_in") and not told else value
            for name, value in super().__call__(messages, schema).items()
        }


async def prompt_ab(
    embedder: MiniLMEmbedder, seed: int, model_name: str | None = None, max_trials: int = 200
) -> dict[str, Any]:
    """The A/B run on the scripted model, or (`model_name`) on an embedded model."""
    labelled = [r for r in rows("travel") if r.get("slots")]
    labels = {r["instruction"]: r["slots"] for r in labelled}
    model = DateLiteral()
    chat: Any = ScriptedModel(responder=model)
    if model_name is not None:
        from lamas.llm.local import LocalModel

        chat = LocalModel(model_name)

    def make(prompt: str) -> Orchestrator:
        return netfile_build(NETWORK, embedder, today=TODAY, slot_prompt=prompt, defended=False)(
            chat, InsightUse(fixed([]))
        )

    def before(instruction: str) -> None:
        model.labels = labels[instruction]

    verdict = await ab_slot_prompts(
        {"stock": SYSTEM, "terse": TERSE},
        list(labels),
        make,
        succeeded=filled_as_labelled(labels),
        before=before,
        seed=seed,
        max_trials=max_trials,
    )
    return {
        "model": model_name or "scripted",
        "best": verdict.best,
        "decided": verdict.decided,
        "trials": verdict.trials,
        "variants": [
            {
                "name": s.name,
                "trials": s.trials,
                "success_rate": s.success_rate,
                "p_best": s.p_best,
            }
            for s in verdict.stats
        ],
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=4, help="repeats (fault site, coins)")
    parser.add_argument(
        "--ab-model",
        default=None,
        help="also run the prompt A/B on this embedded model (smollm2-135m: the test model)",
    )
    parser.add_argument("--ab-trials", type=int, default=40, help="its trial budget")
    args = parser.parse_args()
    console = Console()
    embedder = MiniLMEmbedder()
    runs = []
    with tempfile.TemporaryDirectory(prefix="lamas-sharing-") as tmp:
        for seed in range(1, args.seeds + 1):
            with console.status(f"seed {seed}: {args.rounds} rounds..."):
                runs.append(await sharing_run(seed, args.rounds, embedder, Path(tmp)))
        ab = await prompt_ab(embedder, seed=1)
        runs_ab = [ab]
        if args.ab_model:
            with console.status(f"prompt A/B on {args.ab_model}..."):
                runs_ab.append(
                    await prompt_ab(
                        embedder, 1, model_name=args.ab_model, max_trials=args.ab_trials
                    )
                )
        # The ceiling: the stock orchestrator with no fault (what no lesson can beat).
        top = LabelledSlots()
        stock = netfile_build(NETWORK, embedder, defended=False, today=TODAY)(
            ScriptedModel(responder=top), InsightUse(fixed([]))
        )
        ceiling = await run_round(stock, top)
    mean = [
        {
            key: statistics.mean(r["rounds"][i][key] for r in runs)
            for key in (*(f"{arm}_success" for arm in ARMS), "admitted", "pool_active")
        }
        for i in range(args.rounds)
    ]
    table = Table(
        title=f"travel: success per round, mean of {args.seeds} seeds (one rail vendor fails "
        f"{FAULT_RATE:.0%} of ticket.book, turn by turn)"
    )
    for column in ("round", *ARMS, "admitted", "pool"):
        table.add_column(column, justify="right")
    for i, m in enumerate(mean):
        table.add_row(
            str(i + 1),
            *(f"{m[f'{arm}_success']:.0%}" for arm in ARMS),
            f"{m['admitted']:.2f}",
            f"{m['pool_active']:.2f}",
        )
    console.print(table)
    for run in runs:
        console.print(
            f"seed {run['seed']} (faulty {run['faulty']}): "
            + "; ".join(
                f"round {r['round']}: "
                + (
                    ", ".join(
                        f"{'admitted' if a['admitted'] else 'refused'} "
                        f"({a['without']:.0%} -> {a['with']:.0%})"
                        for a in r["admissions"]
                    )
                    or "-"
                )
                for r in run["rounds"]
            )
        )
        for entry in run["pool"]:
            console.print(
                f"  pool: {entry['text']} utility {entry['utility']:+.2f}, "
                f"{entry['wins']}/{entry['uses']} uses won"
            )
    ab_table = Table(title="slot-filling prompt A/B on the labelled travel instructions")
    for column in ("model", "variant", "trials", "success", "P(best)", "verdict"):
        ab_table.add_column(column)
    for run in runs_ab:
        for v in run["variants"]:
            ab_table.add_row(
                run["model"],
                v["name"],
                str(v["trials"]),
                f"{v['success_rate']:.0%}",
                f"{v['p_best']:.3f}",
                f"{run['best']} ({'decided' if run['decided'] else 'undecided, best measured'})"
                if v is run["variants"][0]
                else "",
            )
    console.print(ab_table)
    summary = {
        arm: {
            "round_1": mean[0][f"{arm}_success"],
            "median_all_rounds": statistics.median(m[f"{arm}_success"] for m in mean),
        }
        for arm in ARMS
    }
    console.print(f"ceiling (no fault, stock orchestrator): {ceiling:.0%}")
    console.print(json.dumps(summary))
    result = {
        "rounds": args.rounds,
        "seeds": args.seeds,
        "fault_rate": FAULT_RATE,
        "per_round_mean": mean,
        "summary": summary,
        "ceiling_without_faults": ceiling,
        "runs": runs,
        "prompt_ab": runs_ab,
    }
    return finish("sharing", result)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
