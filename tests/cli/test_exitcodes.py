"""`lamas ask`, `run` and `demo` exit 0 only when the task completed."""

from __future__ import annotations

from lamas.cli.exitcodes import BUSY, exit_code
from lamas.protocol.tasks import TaskState


def test_only_a_completed_task_exits_zero() -> None:
    assert exit_code(TaskState.COMPLETED) == 0
    assert exit_code("completed") == 0
    assert exit_code(TaskState.FAILED) == 1
    assert exit_code(TaskState.REJECTED) == 1
    assert exit_code(TaskState.CANCELED) == 3
    assert exit_code("input-required") == 4
    assert exit_code("working") == 1  # the stream broke before the task ended
    assert exit_code(None) == 1
    assert exit_code("nonsense") == 1
    assert BUSY == 75
