"""Training sets from experience (paper §2.4, parameter tuning): SFT and DPO, chat format.

- SFT: each successful step (no negative feedback) becomes a conversation: a system
  prompt saying what the step asks for, the user's clause, and the answer that worked.
- DPO: for the same step (same capability and clause), an answer that succeeded is
  preferred over one that failed (or one the user rated worse).

The target is what a model would have to produce: `inputs` (the orchestrator's slot
filling: clause -> the values it took from the user's words, what the embedded model
does in lamas; the step's full inputs for records without them) or
`output` (the serving agent's reply). Every line is checked against `SFT_SCHEMA` /
`DPO_SCHEMA` before it is written. `docs/training.md` has the fine-tuning recipe.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from lamas.errors import InputError
from lamas.protocol.experience import DPO_SCHEMA, SFT_SCHEMA, ExperienceRecord

Target = Literal["inputs", "output"]
Format = Literal["sft", "dpo"]


def system_prompt(record: ExperienceRecord, target: Target) -> str:
    if target == "inputs":
        return (
            f"You extract the inputs of one service call ({record.capability}) from a "
            "user's request. Answer with JSON of the service's fields only."
        )
    return f"You are {record.agent}, serving {record.capability}. Answer with JSON."


def _answer(record: ExperienceRecord, target: Target) -> str:
    value = record.slot_answer if target == "inputs" else record.output
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _usable(record: ExperienceRecord, target: Target) -> bool:
    value = record.slot_answer if target == "inputs" else record.output
    return bool(value) and bool(record.step_instruction.strip())


def _meta(record: ExperienceRecord) -> dict[str, Any]:
    return {
        "record": record.id,
        "task_id": record.task_id,
        "agent": record.agent,
        "capability": record.capability,
        "strategy": record.strategy.key,
    }


def sft_examples(
    records: Iterable[ExperienceRecord], *, target: Target = "inputs"
) -> Iterator[dict[str, Any]]:
    seen: set[tuple[str, str, str]] = set()
    for record in records:
        good = record.outcome.ok and (record.outcome.feedback or 0) >= 0
        if not good or not _usable(record, target):
            continue
        answer = _answer(record, target)
        key = (record.capability, record.step_instruction, answer)
        if key in seen:
            continue  # the same lesson twice weighs it twice: keep it once
        seen.add(key)
        yield {
            "messages": [
                {"role": "system", "content": system_prompt(record, target)},
                {"role": "user", "content": record.step_instruction},
                {"role": "assistant", "content": answer},
            ],
            "metadata": _meta(record),
        }


def _score(record: ExperienceRecord) -> float:
    """Better is higher: success first, then the user's feedback."""
    return (1.0 if record.outcome.ok else 0.0) + 0.5 * (record.outcome.feedback or 0.0)


def dpo_pairs(
    records: Iterable[ExperienceRecord], *, target: Target = "inputs"
) -> Iterator[dict[str, Any]]:
    groups: dict[tuple[str, str], list[ExperienceRecord]] = defaultdict(list)
    for record in records:
        if _usable(record, target):
            groups[(record.capability, record.step_instruction)].append(record)
    for members in groups.values():
        by_answer: dict[str, ExperienceRecord] = {}
        for record in sorted(members, key=_score, reverse=True):
            by_answer.setdefault(_answer(record, target), record)
        ranked = list(by_answer.items())
        best_answer, best = ranked[0]
        for answer, worse in ranked[1:]:
            if _score(worse) >= _score(best):
                continue
            yield {
                "prompt": [
                    {"role": "system", "content": system_prompt(best, target)},
                    {"role": "user", "content": best.step_instruction},
                ],
                "chosen": [{"role": "assistant", "content": best_answer}],
                "rejected": [{"role": "assistant", "content": answer}],
                "metadata": {"chosen": _meta(best), "rejected": _meta(worse)},
            }


def export(
    records: Iterable[ExperienceRecord],
    path: Path,
    *,
    format: Format,
    target: Target = "inputs",
) -> int:
    """Write the training set to `path` (JSONL); returns how many lines were written."""
    from jsonschema import Draft202012Validator

    if format not in ("sft", "dpo"):
        raise InputError(f"unknown export format {format!r}; use sft or dpo")
    if target not in ("inputs", "output"):
        raise InputError(f"unknown target {target!r}; use inputs or output")
    lines = (
        sft_examples(records, target=target)
        if format == "sft"
        else dpo_pairs(records, target=target)
    )
    validator = Draft202012Validator(SFT_SCHEMA if format == "sft" else DPO_SCHEMA)
    rows = []
    for line in lines:
        problems = [e.message for e in validator.iter_errors(line)]
        if problems:  # never write a line a trainer would choke on
            raise InputError(f"export produced an invalid {format} line: {problems[0]}")
        rows.append(json.dumps(line, ensure_ascii=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")
    return len(rows)
