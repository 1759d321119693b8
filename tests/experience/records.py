"""Hand-made experience records for unit tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lamas.protocol.experience import ExperienceRecord, StepOutcome, StepResources, Strategy


def record(
    *,
    task: str = "t1",
    step: str = "s1",
    capability: str = "ticket.book",
    agent: str = "railgo",
    ok: bool = True,
    error: str | None = None,
    at: float = 1000.0,
    clause: str = "book me a train from Paris to Lyon",
    instruction: str | None = None,
    inputs: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
    cost: str = "1.20",
    seconds: float = 0.5,
    prompt: str = "default",
    selection: str = "only",
) -> ExperienceRecord:
    return ExperienceRecord(
        task_id=task,
        instruction=instruction or clause,
        step_id=step,
        capability=capability,
        step_instruction=clause,
        agent=agent,
        entity=agent,
        strategy=Strategy(prompt_version=prompt, tools=("profile.get",), selection=selection),
        inputs=inputs if inputs is not None else {"offer_id": f"{agent}-1"},
        output=output if output is not None else ({"status": "confirmed"} if ok else {}),
        outcome=StepOutcome(ok=ok, error=error if not ok else None),
        resources=StepResources(seconds=seconds, calls=2, cost=Decimal(cost)),
        at=at,
    )
