"""What the user is told at the end: what was done, what failed and why, what this
network does not offer, and what they can do; and offers ranked by their word."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lamas.protocol.plan import Plan
from lamas.protocol.preferences import Preferences
from lamas.runtime.session import OFFERS, StepRun, summarize


def rank_offers(data: Mapping[str, Any], preferences: Preferences | None) -> dict[str, Any]:
    """`data` with its offers (the "offers" list, or its only list of objects) ranked by
    the user's `preferences`; as it is without any."""
    ranked = dict(data)
    if not preferences:
        return ranked
    key = OFFERS if isinstance(data.get(OFFERS), list) else None
    if key is None:
        lists = [k for k, v in data.items() if isinstance(v, list) and v]
        key = lists[0] if len(lists) == 1 else None
    if key is None or not all(isinstance(o, Mapping) for o in data[key]):
        return ranked
    ranked[key] = [dict(o) for o in preferences.rank(data[key])]
    return ranked


def found_something(output: Mapping[str, Any] | None) -> bool:
    """Whether a search's answer holds anything to act on: an answer that is only empty
    lists of results and notes ({"songs": []}, {"offers": [], "note": ...}) holds nothing;
    a result picked from one (a song, with its "matched": [] reasons) holds something."""
    if not output:
        return False
    lists = [v for v in output.values() if isinstance(v, list)]
    others = [k for k, v in output.items() if not isinstance(v, list) and k not in _NOTES]
    return bool(others) or any(lists)


_NOTES = frozenset({"note", "notes", "message", "hint", "reason"})


def plain(reason: str) -> str:
    """A vendor's error in plain words: no exception class names or stack of prefixes."""
    text = re.sub(r"\b[A-Z][A-Za-z]+(?:Error|Failed|Exception|Term|Name): ", "", reason)
    text = re.sub(r"^(?:agent \S+ failed: )+", "", text)
    return text.strip()


def answer_text(
    plan: Plan,
    runs: Mapping[str, StepRun],
    skipped: Mapping[str, str],
    not_offered: list[str],
) -> str:
    """The task's answer: one line per step done, then what failed, was skipped or is
    not offered, each with what the user can do."""
    done = {k: r for k, r in runs.items() if r.error is None}
    done_steps = [s for s in plan.steps if s.id in done]
    lines = []
    if done_steps:
        lines.append(summarize(Plan(instruction=plan.instruction, steps=tuple(done_steps)), done))
    for step in plan.steps:
        run = runs.get(step.id)
        if run is not None and run.error is not None:
            lines.append(
                f"{step.capability} failed: {plain(run.error)} "
                "(you can rephrase that part or try again later)"
            )
        elif step.id in skipped:
            lines.append(f"{step.capability}: {skipped[step.id]}")
    for clause in not_offered:
        lines.append(f"not offered by this network: {clause!r}")
    return "\n".join(lines)
