"""Tasks and their lifecycle, with the A2A task states."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from lamas.errors import InvalidTransition
from lamas.protocol._validation import parse
from lamas.protocol.messages import Message, Part, Wire, new_id


class TaskState(StrEnum):
    SUBMITTED = "submitted"
    WORKING = "working"
    INPUT_REQUIRED = "input-required"
    AUTH_REQUIRED = "auth-required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELED, TaskState.REJECTED}
)

# Where a task may go from each non-terminal state. A task that waits for the
# user (input- or auth-required) resumes by going back to working.
TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.SUBMITTED: frozenset(
        {
            TaskState.WORKING,
            TaskState.INPUT_REQUIRED,
            TaskState.AUTH_REQUIRED,
            TaskState.REJECTED,
            TaskState.CANCELED,
            TaskState.FAILED,
        }
    ),
    TaskState.WORKING: frozenset(
        {
            TaskState.COMPLETED,
            TaskState.INPUT_REQUIRED,
            TaskState.AUTH_REQUIRED,
            TaskState.FAILED,
            TaskState.CANCELED,
        }
    ),
    TaskState.INPUT_REQUIRED: frozenset({TaskState.WORKING, TaskState.CANCELED, TaskState.FAILED}),
    TaskState.AUTH_REQUIRED: frozenset(
        {TaskState.WORKING, TaskState.REJECTED, TaskState.CANCELED, TaskState.FAILED}
    ),
}


class Artifact(Wire):
    """An output a task produced (A2A Artifact)."""

    artifact_id: str = Field(default_factory=new_id)
    name: str | None = None
    parts: tuple[Part, ...] = Field(min_length=1)


class Task(Wire):
    """A unit of work with its state, conversation and outputs. Immutable: moves return a copy."""

    id: str = Field(default_factory=new_id, min_length=1)
    context_id: str = Field(default_factory=new_id, min_length=1)
    state: TaskState = TaskState.SUBMITTED
    status_message: Message | None = None
    history: tuple[Message, ...] = ()
    artifacts: tuple[Artifact, ...] = ()

    def moved_to(self, state: TaskState, message: Message | None = None) -> Task:
        """The task in `state`, with `message` as its status; raises `InvalidTransition`."""
        allowed = TRANSITIONS.get(self.state, frozenset())
        if state not in allowed:
            reachable = ", ".join(sorted(allowed)) or "nothing (the task has ended)"
            raise InvalidTransition(
                f"task {self.id} cannot go from {self.state.value!r} to {state.value!r}; "
                f"from {self.state.value!r} it can reach: {reachable}"
            )
        history = (*self.history, message) if message is not None else self.history
        return self.model_copy(
            update={"state": state, "status_message": message, "history": history}
        )

    def with_artifact(self, artifact: Artifact) -> Task:
        return self.model_copy(update={"artifacts": (*self.artifacts, artifact)})

    @classmethod
    def parse(cls, data: str | bytes | dict[str, Any]) -> Task:
        return parse(cls, data, "task")
