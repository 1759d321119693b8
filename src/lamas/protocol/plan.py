"""Plans: the DAG of steps that instruction processing produces and the orchestrator runs."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from lamas.errors import InvalidPlan
from lamas.protocol._validation import parse
from lamas.protocol.cards import SKILL_NAME_PATTERN
from lamas.protocol.messages import Wire

STEP_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class Step(Wire):
    """One step: which capability, what to do, with which inputs, after which steps."""

    id: str = Field(pattern=STEP_ID_PATTERN)
    capability: str = Field(pattern=SKILL_NAME_PATTERN)
    instruction: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    optional: bool = False


class Plan(Wire):
    """A DAG of steps. Validation guarantees unique ids, known dependencies and no cycle."""

    instruction: str = ""
    steps: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _is_dag(self) -> Plan:
        ids = [s.id for s in self.steps]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(repeated)}")
        known = set(ids)
        for step in self.steps:
            if step.id in step.depends_on:
                raise ValueError(f"step {step.id!r} depends on itself")
            missing = sorted(set(step.depends_on) - known)
            if missing:
                raise ValueError(f"step {step.id!r} depends on unknown steps: {', '.join(missing)}")
        cycle = _find_cycle({s.id: s.depends_on for s in self.steps})
        if cycle:
            raise ValueError(f"steps form a cycle: {' -> '.join(cycle)}")
        return self

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise InvalidPlan(f"plan has no step {step_id!r}")

    def layers(self) -> list[tuple[Step, ...]]:
        """Steps in groups; each group depends only on earlier ones (run a group in parallel)."""
        done: set[str] = set()
        layers: list[tuple[Step, ...]] = []
        while len(done) < len(self.steps):
            layer = self.ready(done)
            layers.append(layer)
            done.update(s.id for s in layer)
        return layers

    def ready(self, done: set[str]) -> tuple[Step, ...]:
        """Steps not in `done` whose dependencies are all in `done`."""
        return tuple(
            s for s in self.steps if s.id not in done and all(d in done for d in s.depends_on)
        )

    @classmethod
    def parse(cls, data: str | bytes | dict[str, Any]) -> Plan:
        return parse(cls, data, "plan")


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str]:
    """A cycle in `graph` (node -> dependencies) as a closed path, or [] if there is none.

    Iterative depth-first search: a plan from outside may be a chain thousands of steps long.
    """
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        pending = [iter(graph[root])]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                pending.pop()
                node = path.pop()
                on_path.discard(node)
                done.add(node)
            elif dep in on_path:
                return [*path[path.index(dep) :], dep]
            elif dep not in done:
                path.append(dep)
                on_path.add(dep)
                pending.append(iter(graph[dep]))
    return []
