"""Understanding: do requests nobody rehearsed end in the right result?

Runs `tests/data/understanding.jsonl` (written blind, before the feature; a third is the
held-out split, never tuned on) through the real orchestrator over the example networks.

- plan (no LLM): routing (MiniLM) + clause roles + calibrated out-of-scope + the plan
  from the cards: routing accuracy (the set of capabilities), clean plans (the exact
  steps, and every out-of-scope clause reported, nothing else), per split;
- end to end, per model (`--models`): the embedded model fills the slots, the vendors
  answer, questions are answered with the row's scripted answers, and the final bookings
  are compared with the row's key fields (dates, places through the vendors' vocabulary,
  departure windows, picks); slot accuracy, questions asked (necessary vs needless), past
  dates booked (must be 0), tokens and seconds per task.

    python benchmarks/understanding.py                        # plan only, both splits
    python benchmarks/understanding.py --models smollm2-135m qwen2.5-coder-1.5b --split heldout

Prints tables and writes benchmarks/results/understanding.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "understanding.jsonl"
ROUND2 = ROOT / "tests" / "data" / "understanding_round2.jsonl"
"""A second blind set (written after the first round of tuning, by someone who saw neither
the code nor the first set): its splits are reported as dev2 / heldout2."""
ROUND3 = ROOT / "tests" / "data" / "understanding_round3.jsonl"
"""A third blind set (written after the second round of tuning, by someone who saw neither the
code nor the earlier sets' rows, bar five for the format): reported as dev3 / heldout3."""
SPLITS = ["dev", "heldout", "dev2", "heldout2", "dev3", "heldout3"]
STUDIED = {"dev", "dev2", "dev3"}
"""The only splits whose wrong rows are ever printed: the held-out ones are never studied."""
RESULTS = ROOT / "benchmarks" / "results" / "understanding.json"
NETWORKS = {
    "travel": ("orchestrator", "examples/travel/network.yaml"),
    "music": ("music-orchestrator", "examples/music/network.yaml"),
}
BOOKINGS = {
    "ticket.book": "ticket.search",
    "hotel.book": "hotel.search",
    "song.play": "song.search",
}


def load_rows(split: str, only: Iterable[str] = ()) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    for suffix, path in (("2", ROUND2), ("3", ROUND3)):
        for line in path.read_text().splitlines() if path.exists() else ():
            if line.strip():
                row = json.loads(line)
                rows.append({**row, "split": f"{row['split']}{suffix}"})
    wanted = set(only)
    return [
        r
        for r in rows
        if (split == "all" or r["split"] == split) and (not wanted or r["id"] in wanted)
    ]


def fold(text: Any) -> str:
    from lamas.protocol.vocabulary import fold as vocab_fold

    return vocab_fold(str(text))


# --- the plan, without a model -------------------------------------------------------


def plan_of(orchestrator: Any, instruction: str) -> tuple[list[str], list[str]]:
    """(capabilities of the plan's steps, clauses reported as not offered), no LLM."""
    from lamas.errors import InvalidPlan
    from lamas.protocol.instruction import plan_with_clauses

    routed = orchestrator.understander.route(instruction, orchestrator.router)
    router = orchestrator.router
    understood = orchestrator.understander.understand(routed, router.scores, router.threshold)
    if not understood.routed:
        return [], understood.not_offered
    try:
        plan, _ = plan_with_clauses(
            instruction, understood.routed, orchestrator.skills, optional=understood.conditional
        )
    except InvalidPlan:
        return [], understood.not_offered
    return [s.capability for s in plan.steps], understood.not_offered


def score_plan(row: Mapping[str, Any], steps: list[str], not_offered: list[str]) -> dict[str, bool]:
    expected = [s["capability"] for s in row["plan"]["steps"]]
    # A question row's expected plan is the plan after the answers; the first plan has
    # the same steps (the answer fills slots, it adds none).
    routing = set(steps) == set(expected)
    clean = Counter(steps) == Counter(expected) and len(not_offered) == len(
        row["plan"]["not_offered"]
    )
    return {
        "routing": routing,
        "clean": clean,
        "out_of_scope_reported": len(not_offered) >= len(row["plan"]["not_offered"]),
        "false_out_of_scope": len(not_offered) > len(row["plan"]["not_offered"]),
    }


# --- end to end ------------------------------------------------------------------------


def booked(session: Any) -> list[dict[str, Any]]:
    """Each booking the task made, with the offer it booked (from its search)."""
    found = []
    plan = session.plan
    if plan is None:
        return found
    for step in plan.steps:
        run = session.runs.get(step.id)
        if step.capability not in BOOKINGS or run is None or run.error is not None:
            continue
        offer: dict[str, Any] = {}
        for need in step.depends_on:
            upstream = session.runs.get(need)
            if upstream is not None:
                offer.update(upstream.output)
                offer["_inputs"] = upstream.inputs
                offer["_agent"] = upstream.agent
        offer.update({k: v for k, v in run.output.items() if not isinstance(v, dict)})
        for v in run.output.values():
            if isinstance(v, dict):
                offer.update(v)
        found.append(
            {
                "skill": step.capability,
                "offer": offer,
                "search_step": step.depends_on[0] if step.depends_on else None,
            }
        )
    return found


def _minutes(text: str) -> int | None:
    import re

    m = re.search(r"(\d{2}):(\d{2})(?::\d{2})?$", str(text))
    return int(m.group(1)) * 60 + int(m.group(2)) if m else None


def _date_of(offer: Mapping[str, Any]) -> str | None:
    for key in ("date", "check_in", "depart"):
        value = offer.get(key)
        if value:
            return str(value)[:10]
    return (offer.get("_inputs") or {}).get("date") or (offer.get("_inputs") or {}).get("check_in")


def same_place(said: Any, got: Any) -> bool:
    a, b = fold(said), fold(got)
    return bool(a and b) and (a == b or a in b or b in a)


def matches(
    expected: Mapping[str, Any], offer: Mapping[str, Any], others: list[Mapping[str, Any]]
) -> list[str]:
    """The expected key fields `offer` misses (empty: a right booking)."""
    wrong = []
    inputs = offer.get("_inputs") or {}
    for key, value in expected.items():
        if key == "skill":
            continue
        if key in ("origin", "destination", "city", "artist", "genre", "mood", "title"):
            got = offer.get(key) or inputs.get(key)
            if key == "mood" and not got:
                continue
            if not same_place(value, got):
                wrong.append(f"{key}={got!r}, wanted {value!r}")
        elif key in ("station_from", "station_to"):
            if not same_place(value, offer.get(key)):
                wrong.append(f"{key}={offer.get(key)!r}, wanted {value!r}")
        elif key in ("date", "check_in"):
            got = (
                _date_of(offer)
                if key == "date"
                else (offer.get("check_in") or inputs.get("check_in"))
            )
            if str(got)[:10] != value:
                wrong.append(f"{key}={got!r}, wanted {value!r}")
        elif key == "nights":
            got = offer.get("nights") or inputs.get("nights")
            if got != value:
                wrong.append(f"nights={got!r}, wanted {value!r}")
        elif key == "near":
            got = offer.get("near") or inputs.get("near")
            if not same_place(value, got):
                wrong.append(f"near={got!r}, wanted {value!r}")
        elif key in ("depart_after", "depart_before"):
            got = _minutes(offer.get("depart", ""))
            limit = _minutes(value)
            if (
                got is None
                or limit is None
                or (got < limit if key == "depart_after" else got > limit)
            ):
                wrong.append(f"depart={offer.get('depart')!r}, wanted {key} {value}")
        elif key == "min_stars":
            if (offer.get("stars") or 0) < value:
                wrong.append(f"stars={offer.get('stars')!r}, wanted >= {value}")
        elif key in ("max_tempo_bpm", "max_duration_s"):
            field = "tempo_bpm" if key == "max_tempo_bpm" else "duration_s"
            if offer.get(field) is not None and offer[field] > value:
                wrong.append(f"{field}={offer[field]}, wanted <= {value}")
        elif key == "era":
            year = offer.get("year")
            decade = "".join(c for c in str(value) if c.isdigit())[:4]
            if year is None or (
                len(decade) == 4 and not (int(decade) <= int(year) < int(decade) + 10)
            ):
                wrong.append(f"year={year!r}, wanted {value}")
        elif key == "pick":
            wrong += _pick_wrong(value, offer, others)
    return wrong


def _pick_wrong(pick: str, offer: Mapping[str, Any], others: list[Mapping[str, Any]]) -> list[str]:
    if not others:
        return []
    if pick in ("earliest", "latest"):
        times = [m for o in others if (m := _minutes(o.get("depart", ""))) is not None]
        got = _minutes(offer.get("depart", ""))
        best = min(times) if pick == "earliest" else max(times)
        return (
            [] if got == best else [f"depart={offer.get('depart')}, not the {pick} of {len(times)}"]
        )
    if pick == "cheapest":
        key = "total" if "total" in offer else "price"
        prices = [o.get(key) for o in others if o.get(key) is not None]
        return (
            []
            if offer.get(key) == min(prices, default=None)
            else [f"{key}={offer.get(key)}, not the cheapest"]
        )
    if pick in ("newest", "oldest"):
        years = [o.get("year") for o in others if o.get("year") is not None]
        best = max(years, default=None) if pick == "newest" else min(years, default=None)
        return [] if offer.get("year") == best else [f"year={offer.get('year')}, not the {pick}"]
    return []


async def offers_seen(
    orchestrator: Any, booking: Mapping[str, Any], skill: str, task_id: str
) -> list[dict[str, Any]]:
    """Every offer the booking's search could have chosen among (asked again of its vendor)."""
    from lamas.protocol.messages import Envelope, Message

    offer = booking["offer"]
    agent, inputs = offer.get("_agent"), offer.get("_inputs") or {}
    providers = [agent] if agent else [c.id for c in orchestrator.network.find(skill)]
    found: list[dict[str, Any]] = []
    for provider in providers:
        try:
            reply = await orchestrator.gate.request(
                Envelope(
                    sender=orchestrator.agent_id,
                    recipient=provider,
                    skill=skill,
                    task_id=task_id,
                    message=Message.of_data(dict(inputs)),
                ),
                timeout=30,
            )
        except Exception:
            continue
        data = reply.data
        lists = [v for v in data.values() if isinstance(v, list)]
        found += [
            o for o in (data.get("offers") or (lists[0] if lists else [])) if isinstance(o, dict)
        ]
    return found


async def run_row(orchestrator: Any, row: Mapping[str, Any]) -> dict[str, Any]:
    from lamas.protocol.tasks import TaskState

    today = dt.date.fromisoformat(row["today"])
    orchestrator.today = today
    orchestrator.filler.today = today
    set_vendor_today(today)
    started = time.perf_counter()
    before = orchestrator.model.usage
    session = await orchestrator.submit(row["instruction"])
    answers = list(row["answers"])
    asked: list[str] = []
    while session.task.state is TaskState.INPUT_REQUIRED and len(asked) < 3:
        asked.append(session.question or "")
        if not answers:
            break
        session = await orchestrator.answer(session.task.id, answers.pop(0))
    seconds = time.perf_counter() - started
    used = orchestrator.model.usage
    expected = row["outcome"]
    result: dict[str, Any] = {
        "id": row["id"],
        "split": row["split"],
        "network": row["network"],
        "state": session.task.state.value,
        "status": session.task.status_message.text if session.task.status_message else None,
        "inputs": {step: dict(values) for step, values in session.slots.items()},
        "asked": asked,
        "seconds": seconds,
        "tokens": (used.prompt_tokens - before.prompt_tokens)
        + (used.completion_tokens - before.completion_tokens),
    }
    problems: list[str] = []
    wanted_question = expected.get("question") is not None
    result["necessary_question"] = bool(asked) and wanted_question
    result["needless_question"] = bool(asked) and not wanted_question
    result["missed_question"] = wanted_question and not asked
    made = booked(session)
    result["past_booked"] = any(
        (d := _date_of(b["offer"])) is not None and d < row["today"] for b in made
    )
    pending = [dict(b) for b in expected.get("bookings", [])]
    for booking in made:
        match = next((e for e in pending if e["skill"] == booking["skill"]), None)
        if match is None:
            problems.append(f"unexpected {booking['skill']}")
            continue
        others = (
            await offers_seen(orchestrator, booking, BOOKINGS[booking["skill"]], session.task.id)
            if "pick" in match
            else []
        )
        wrong = matches(match, booking["offer"], others)
        candidates = [e for e in pending if e["skill"] == booking["skill"]]
        best = min(candidates, key=lambda e: len(matches(e, booking["offer"], others)))
        wrong = matches(best, booking["offer"], others)
        pending.remove(best)
        problems += [f"{booking['skill']}: {w}" for w in wrong]
    problems += [f"missing {e['skill']}" for e in pending]
    status = session.task.status_message.text if session.task.status_message else ""
    for clause in expected.get("not_offered", []):
        if "not offered" not in status:
            problems.append(f"not reported as not offered: {clause}")
    if wanted_question and not asked:
        problems.append("no question asked")
    if session.task.state is TaskState.INPUT_REQUIRED:
        problems.append("still waiting: " + (session.question or ""))
    result["problems"] = problems
    result["right"] = not problems and not result["past_booked"]
    result["slots_right"], result["slots_total"] = slot_accuracy(row, session)
    return result


def slot_accuracy(row: Mapping[str, Any], session: Any) -> tuple[int, int]:
    """Expected slots of the plan's first steps found in the task's inputs."""
    right = total = 0
    if session.plan is None:
        return 0, sum(len(s.get("slots", {})) for s in row["plan"]["steps"])
    used: set[str] = set()
    for step in row["plan"]["steps"]:
        wanted = step.get("slots") or {}
        if not wanted:
            continue
        candidates = [
            s for s in session.plan.steps if s.capability == step["capability"] and s.id not in used
        ]
        got: dict[str, Any] = {}
        if candidates:
            used.add(candidates[0].id)
            run = session.runs.get(candidates[0].id)
            got = (
                dict(run.inputs)
                if run is not None
                else dict(session.slots.get(candidates[0].id, {}))
            )
        for name, value in wanted.items():
            total += 1
            said = got.get(name)
            if isinstance(value, str) and isinstance(said, str):
                right += (
                    same_place(value, said)
                    if name not in ("date", "check_in", "time_of_day")
                    else value == said
                )
            else:
                right += said == value
    return right, total


def set_vendor_today(today: dt.date) -> None:
    """The example vendors refuse dates before their today: the row's."""
    try:
        from lamas.runtime import today as today_module
    except ImportError:
        return
    setter = getattr(today_module, "set_default_today", None)
    if setter is not None:
        setter(today)


def build(network: str, model: Any, embedder: Any) -> Any:
    from lamas.runtime.netfile import load
    from lamas.runtime.orchestrator import Orchestrator

    hub, path = NETWORKS[network]
    spec, net = load(ROOT / path, external=[hub])
    orchestrator = Orchestrator(
        net,
        model,
        embedder,
        agent_id=hub,
        profile_fields=next(
            (a.card.vault_fields for a in spec.agents if a.card.entity == "user"), ()
        )
        if spec.topology.centralized
        else (),
    )
    card = next(a.card for a in spec.agents if a.card.id == hub)
    orchestrator.join(card)
    return orchestrator


def make_model(name: str) -> Any:
    """A catalog model, or "none": no model at all (every input from the vendors'
    vocabularies, dates and preferences; what they cannot give is asked)."""
    if name == "none":
        from lamas.llm.scripted import ScriptedModel

        return ScriptedModel(responder=lambda messages, schema: {})
    from lamas.llm.local import LocalModel

    return LocalModel(name)


PLAN_W = [8, 5, 8, 11, 13, 10]
E2E_W = [8, 5, 7, 7, 9, 11, 9, 12, 11, 9]


def line(cells: list[Any], widths: list[int]) -> str:
    """One row of a table: the first cell left-aligned, the rest right-aligned."""
    first, *rest = cells
    return " ".join(
        [f"{first!s:{widths[0]}}", *(f"{c!s:>{w}}" for c, w in zip(rest, widths[1:], strict=True))]
    )


def rate(items: list[bool]) -> float:
    return sum(items) / len(items) if items else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=[*SPLITS, "all"], default="all")
    parser.add_argument(
        "--models", nargs="*", default=[], help="catalog names for the end-to-end runs"
    )
    parser.add_argument("--rows", nargs="*", default=[], help="only these row ids")
    parser.add_argument(
        "--limit", type=int, default=0, help="at most this many rows per split end to end"
    )
    parser.add_argument("--verbose", action="store_true", help="print each wrong row's problems")
    args = parser.parse_args(argv)
    from lamas.agent.embeddings import MiniLMEmbedder
    from lamas.llm.scripted import ScriptedModel

    embedder = MiniLMEmbedder()
    splits = SPLITS if args.split == "all" else [args.split]
    report: dict[str, Any] = {"plan": {}, "end_to_end": {}}
    # --- plan, no LLM
    planners = {n: build(n, ScriptedModel(responder=lambda m, s: {}), embedder) for n in NETWORKS}
    print("\nPlan without a model (MiniLM routing + clause roles + calibrated out-of-scope)")
    print(line(["split", "rows", "routing", "clean plan", "oos reported", "false oos"], PLAN_W))
    for split in splits:
        rows = load_rows(split, args.rows)
        scores = []
        for row in rows:
            steps, not_offered = plan_of(planners[row["network"]], row["instruction"])
            scored = score_plan(row, steps, not_offered)
            scores.append(scored)
            if args.verbose and not scored["clean"] and split in STUDIED:  # never heldout
                print(f"  {row['id']}: {steps} not_offered={not_offered} <- {row['instruction']}")
        oos_rows = [s for s, r in zip(scores, rows, strict=True) if r["plan"]["not_offered"]]
        entry = {
            "rows": len(rows),
            "routing": rate([s["routing"] for s in scores]),
            "clean_plan": rate([s["clean"] for s in scores]),
            "out_of_scope_reported": rate([s["out_of_scope_reported"] for s in oos_rows]),
            "false_out_of_scope": rate([s["false_out_of_scope"] for s in scores]),
        }
        report["plan"][split] = entry
        rates = ("routing", "clean_plan", "out_of_scope_reported", "false_out_of_scope")
        print(line([split, entry["rows"], *(f"{entry[k]:.1%}" for k in rates)], PLAN_W))
    # --- end to end
    for name in args.models:
        model = make_model(name)
        orchestrators = {n: build(n, model, embedder) for n in NETWORKS}
        report["end_to_end"][name] = {}
        print(f"\nEnd to end on {name}")
        heads = ["split", "rows", "right", "slots", "q needed", "q needless", "q missed"]
        print(line([*heads, "past booked", "s/task p50", "tok/task"], E2E_W))
        for split in splits:
            rows = load_rows(split, args.rows)
            if args.limit:
                rows = rows[: args.limit]
            results = []
            for index, row in enumerate(rows, 1):
                result = asyncio.run(run_row(orchestrators[row["network"]], row))
                results.append(result)
                mark = "ok" if result["right"] else "WRONG"
                print(
                    f"  [{index}/{len(rows)}] {row['id']} {mark} {result['seconds']:.1f}s",
                    file=sys.stderr,
                )
                if args.verbose and not result["right"] and split in STUDIED:
                    said = f"{result['problems']} asked={result['asked']} -> {result['state']}"
                    print(f"    {row['instruction']}\n    {said}", file=sys.stderr)
            slots_right = sum(r["slots_right"] for r in results)
            slots_total = sum(r["slots_total"] for r in results)
            entry = {
                "rows": len(results),
                "right": rate([r["right"] for r in results]),
                "slot_accuracy": slots_right / slots_total if slots_total else float("nan"),
                "questions_necessary": sum(r["necessary_question"] for r in results),
                "questions_needless": sum(r["needless_question"] for r in results),
                "questions_missed": sum(r["missed_question"] for r in results),
                "past_dates_booked": sum(r["past_booked"] for r in results),
                "seconds_p50": statistics.median([r["seconds"] for r in results])
                if results
                else 0.0,
                "tokens_mean": statistics.mean([r["tokens"] for r in results]) if results else 0.0,
                "rows_detail": results,
            }
            report["end_to_end"][name][split] = entry
            cells = [split, entry["rows"], f"{entry['right']:.1%}", f"{entry['slot_accuracy']:.1%}"]
            cells += [entry[k] for k in ("questions_necessary", "questions_needless")]
            cells += [entry["questions_missed"], entry["past_dates_booked"]]
            cells += [f"{entry['seconds_p50']:.1f}", f"{entry['tokens_mean']:.0f}"]
            print(line(cells, E2E_W))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
