"""What `lamas ask`, `lamas run` and `lamas demo` exit with: 0 only when the task completed.

| code | meaning |
|---|---|
| 0 | the task completed |
| 1 | the task failed (or was rejected); what it had booked was undone |
| 2 | bad input or configuration (nothing was started) |
| 3 | the task was canceled |
| 4 | the task is waiting for the user (input-required) and no answer was given |
| 69 | the agent could not be reached (EX_UNAVAILABLE) |
| 75 | the platform was busy and did not start the task: retry later (EX_TEMPFAIL) |
"""

from __future__ import annotations

from lamas.protocol.tasks import TaskState

COMPLETED = 0
FAILED = 1
USAGE = 2
CANCELED = 3
WAITING = 4
UNREACHABLE = 69
BUSY = 75

_BY_STATE = {
    TaskState.COMPLETED: COMPLETED,
    TaskState.FAILED: FAILED,
    TaskState.REJECTED: FAILED,
    TaskState.CANCELED: CANCELED,
    TaskState.INPUT_REQUIRED: WAITING,
    TaskState.AUTH_REQUIRED: WAITING,
}


def exit_code(state: TaskState | str | None) -> int:
    """The exit code for a task that ended (or stopped) in `state`; a task whose end was
    never seen (the stream broke) is a failure."""
    if state is None:
        return FAILED
    try:
        return _BY_STATE.get(TaskState(state), FAILED)
    except ValueError:
        return FAILED
