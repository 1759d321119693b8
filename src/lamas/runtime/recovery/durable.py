"""Durable tasks: an orchestrator's task state, written at every step boundary.

A task's whole state (the task with its history, what the user said, the plan, the
filled inputs, each step's result, the pending question, and the recovery layer's own
state: rounds of choice, booking attempts, compensations) is one JSON snapshot in the
store's `orchestrator_tasks` table, rewritten when the plan is made, after each step,
when a question is asked and when the task ends. A restarted orchestrator reads back
the tasks that had not ended and resumes them (`Recovery.resume`): completed steps are
not run again, and a booking that was in flight is asked again under the same
idempotency key, so the vendor returns the booking it already made.

SQLite by default (a file under LAMAS_HOME), PostgreSQL by URL: the store's engine.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from lamas.protocol.plan import Plan, Step
from lamas.protocol.tasks import Task, TaskState
from lamas.runtime.session import Session, StepRun

SNAPSHOT_VERSION = 1


@dataclass(slots=True)
class Attempt:
    """A request that may have changed something at a vendor (a booking), by key."""

    step_id: str
    agent: str
    skill: str
    key: str
    compensation: str | None
    status: str = "attempted"  # attempted | stood | compensated | kept | pending
    booking_id: str | None = None
    note: str = ""


@dataclass(slots=True)
class TaskRecovery:
    """The recovery layer's state of one task."""

    rounds: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, list[str]] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    rechosen: int = 0
    keep_question: list[str] = field(default_factory=list)
    """Keys of bookings the user is being asked whether to keep."""
    failure: str = ""


def snapshot(session: Session, state: TaskRecovery) -> str:
    runs = {
        step_id: {
            "step": run.step.model_dump(mode="json"),
            "agent": run.agent,
            "inputs": run.inputs,
            "output": run.output,
            "error": run.error,
            "seconds": run.seconds,
            "selected_by": run.selected_by,
        }
        for step_id, run in session.runs.items()
    }
    data: dict[str, Any] = {
        "version": SNAPSHOT_VERSION,
        "task": session.task.model_dump(mode="json"),
        "said": session.said,
        "plan": session.plan.model_dump(mode="json") if session.plan is not None else None,
        "follow_ups": session.follow_ups,
        "slots": session.slots,
        "waiting_on": session.waiting_on,
        "choices": [[s, n, v] for (s, n), v in session.choices.items()],
        "runs": runs,
        "recovery": {
            "rounds": state.rounds,
            "excluded": state.excluded,
            "attempts": [_attempt(a) for a in state.attempts],
            "rechosen": state.rechosen,
            "keep_question": state.keep_question,
            "failure": state.failure,
        },
    }
    return json.dumps(data, default=str)


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {name: getattr(attempt, name) for name in Attempt.__slots__}


def restore(text: str) -> tuple[Session, TaskRecovery]:
    data = json.loads(text)
    if data.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"task snapshot version {data.get('version')!r} is not {SNAPSHOT_VERSION}")
    session = Session(task=Task.model_validate(data["task"]), said=list(data["said"]))
    if data["plan"] is not None:
        session.plan = Plan.model_validate(data["plan"])
    session.follow_ups = list(data["follow_ups"])
    session.slots = {k: dict(v) for k, v in data["slots"].items()}
    session.waiting_on = {k: list(v) for k, v in data["waiting_on"].items()}
    session.choices = {(s, n): list(v) for s, n, v in data["choices"]}
    for step_id, run in data["runs"].items():
        session.runs[step_id] = StepRun(
            step=Step.model_validate(run["step"]),
            agent=run["agent"],
            inputs=dict(run["inputs"]),
            output=dict(run["output"]),
            error=run["error"],
            seconds=float(run["seconds"]),
            selected_by=run["selected_by"],
        )
    saved = data["recovery"]
    state = TaskRecovery(
        rounds={k: int(v) for k, v in saved["rounds"].items()},
        excluded={k: list(v) for k, v in saved["excluded"].items()},
        attempts=[Attempt(**a) for a in saved["attempts"]],
        rechosen=int(saved["rechosen"]),
        keep_question=list(saved["keep_question"]),
        failure=str(saved["failure"]),
    )
    return session, state


class TaskStore:
    """Task snapshots in the store (`url`: SQLite by default, PostgreSQL by URL)."""

    def __init__(self, url: str | None = None) -> None:
        from lamas.runtime.recovery.idempotency import create_table
        from lamas.store.engine import create_engine
        from lamas.store.recovery_tables import orchestrator_tasks

        self.engine = create_engine(url, create_tables=False)
        create_table(self.engine, orchestrator_tasks)

    @property
    def url(self) -> str:
        """The database's URL, as resolved (the default named explicitly)."""
        url: str = self.engine.url.render_as_string(hide_password=False)
        return url

    def save(self, orchestrator: str, session: Session, state: TaskRecovery) -> None:
        from sqlalchemy import insert, update

        from lamas.store.recovery_tables import orchestrator_tasks as t

        values = {
            "orchestrator": orchestrator,
            "state": session.task.state.value,
            "snapshot": snapshot(session, state),
            "updated_at": time.time(),
        }
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(t).where(t.c.task_id == session.task.id).values(**values)
            ).rowcount
            if not changed:
                connection.execute(insert(t).values(task_id=session.task.id, **values))

    def unfinished(self, orchestrator: str) -> list[tuple[Session, TaskRecovery]]:
        """Every task of `orchestrator` that had not ended, oldest first."""
        from sqlalchemy import select

        from lamas.store.recovery_tables import orchestrator_tasks as t

        ended = [s.value for s in TaskState if s.terminal]
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(t.c.snapshot)
                .where(t.c.orchestrator == orchestrator, t.c.state.not_in(ended))
                .order_by(t.c.updated_at)
            ).all()
        return [restore(row.snapshot) for row in rows]

    def pending(self, orchestrator: str) -> list[tuple[Session, TaskRecovery]]:
        """Ended tasks of `orchestrator` with a compensation that could not get through:
        a failed task's bookings, or a completed task's booking abandoned on the way (at a
        vendor that died as it booked and was not back in time to undo it)."""
        from sqlalchemy import select

        from lamas.store.recovery_tables import orchestrator_tasks as t

        ended = [TaskState.FAILED.value, TaskState.COMPLETED.value]
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(t.c.snapshot).where(
                    t.c.orchestrator == orchestrator,
                    t.c.state.in_(ended),
                    t.c.snapshot.contains('"status": "pending"'),
                )
            ).all()
        return [restore(row.snapshot) for row in rows]

    def states(self, orchestrator: str | None = None) -> dict[str, str]:
        """task id -> state, of every task recorded (of one orchestrator, if named)."""
        from sqlalchemy import select

        from lamas.store.recovery_tables import orchestrator_tasks as t

        query = select(t.c.task_id, t.c.state)
        if orchestrator is not None:
            query = query.where(t.c.orchestrator == orchestrator)
        with self.engine.connect() as connection:
            return {row.task_id: row.state for row in connection.execute(query)}

    def load(self, task_id: str) -> tuple[Session, TaskRecovery] | None:
        from sqlalchemy import select

        from lamas.store.recovery_tables import orchestrator_tasks as t

        with self.engine.connect() as connection:
            row = connection.execute(select(t.c.snapshot).where(t.c.task_id == task_id)).first()
        return restore(row.snapshot) if row is not None else None
