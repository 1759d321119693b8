"""What the orchestrator keeps about a task: its session, its steps' runs, its events.

Plain values and pure helpers, apart from the orchestrator's control flow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from lamas.llm.base import Usage
from lamas.protocol.consensus import Decision
from lamas.protocol.instruction import RoutedClause
from lamas.protocol.plan import Plan, Step
from lamas.protocol.preferences import Preferences
from lamas.protocol.tasks import Task, TaskState

if TYPE_CHECKING:
    from lamas.runtime.understanding.inputs import Prepared

OFFERS = "offers"
"""A reply whose data holds a list under this key offers choices; the step's output is one."""

EventKind = Literal[
    "filling",
    "routed",
    "plan",
    "question",
    "step",
    "consensus",
    "done",
    "failed",
    "message",
    "compensated",
]


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    task_id: str
    data: dict[str, Any]


@dataclass(slots=True)
class StepRun:
    step: Step
    agent: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    decision: Decision | None = None
    error: str | None = None
    seconds: float = 0.0
    selected_by: str = ""
    """How the agent was chosen when a learned selector chose it ("bandit"), else ""."""


@dataclass(slots=True)
class Session:
    """Everything the orchestrator knows about one task, across rounds with the user."""

    task: Task
    said: list[str]
    plan: Plan | None = None
    follow_ups: list[str] = field(default_factory=list)
    """Later instructions that changed this task ("make it the 9 o'clock one instead")."""
    routed: list[RoutedClause] = field(default_factory=list)
    slots: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiting_on: dict[str, list[str]] = field(default_factory=dict)
    choices: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(step, input) -> the options the user hesitated between."""
    runs: dict[str, StepRun] = field(default_factory=dict)
    not_offered: list[str] = field(default_factory=list)
    """Clauses of the request no agent of the network serves (reported, not run)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Steps not run, and why (a conditional whose search found nothing, a failed need)."""
    reverse_of: dict[str, str] = field(default_factory=dict)
    """The way back of a trip -> the step of the trip it reverses."""
    preferences: dict[str, Preferences] = field(default_factory=dict)
    prepared: dict[str, Prepared] = field(default_factory=dict)
    past: dict[str, str] = field(default_factory=dict)
    """Steps whose date was said as one already past -> the phrase (asked back)."""
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0

    @property
    def question(self) -> str | None:
        message = self.task.status_message
        return message.text if message and self.task.state is TaskState.INPUT_REQUIRED else None


def step_inputs(
    filled: Mapping[str, Any], wanted: Iterable[str], upstream: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """A step's inputs: what was filled from the user's words, then each `wanted` input
    still missing taken from the outputs of the steps it depends on (an offer's id, say)."""
    inputs = dict(filled)
    names = list(wanted)
    for output in upstream:
        for name in names:
            if name not in inputs and name in output:
                inputs[name] = output[name]
    return inputs


def chosen_output(data: dict[str, Any]) -> dict[str, Any]:
    """A reply's output. A reply that offers choices (a list of objects under "offers",
    or under its only list-valued key, like "songs") gives its first, best-ranked, one;
    any other reply is the output as it is."""
    choices = data.get(OFFERS)
    if choices is None:
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1 and lists[0] and all(isinstance(x, dict) for x in lists[0]):
            choices = lists[0]
    if isinstance(choices, list):
        first = choices[0] if choices else {}
        return dict(first) if isinstance(first, dict) else {"value": first}
    return dict(data)


def downstream(plan: Plan, roots: set[str]) -> set[str]:
    """`roots` and every step that depends on them, directly or not."""
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for step in plan.steps:
            if step.id not in found and found.intersection(step.depends_on):
                found.add(step.id)
                grew = True
    return found


def summarize(plan: Plan, runs: Mapping[str, StepRun]) -> str:
    """One line per step: what was done, by whom, with its key results."""
    lines = []
    for step in plan.steps:
        run = runs[step.id]
        shown = ", ".join(f"{k}={v}" for k, v in _scalars(run.output))
        lines.append(f"{step.capability} by {run.agent}: {shown[:240]}")
    return "\n".join(lines)


def _scalars(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """The plain values of `data`, one nested object deep ("now_playing.title")."""
    found: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, Mapping) and not prefix:
            found += _scalars(value, f"{key}.")
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            found.append((f"{prefix}{key}", value))
    return found
