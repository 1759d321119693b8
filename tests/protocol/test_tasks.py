"""Task lifecycle: legal moves, refusals from terminal states, immutability, round-trips."""

from __future__ import annotations

import pytest

from lamas.errors import InputError, InvalidTransition, MalformedMessage
from lamas.protocol.messages import Message, TextPart
from lamas.protocol.tasks import TRANSITIONS, Artifact, Task, TaskState

LEGAL = sorted((a, b) for a, targets in TRANSITIONS.items() for b in targets)
TERMINAL = [s for s in TaskState if s.terminal]


def task_in(state: TaskState) -> Task:
    return Task(state=state)


def test_terminal_states_are_exactly_those_without_transitions() -> None:
    assert set(TERMINAL) == {
        TaskState.COMPLETED,
        TaskState.FAILED,
        TaskState.CANCELED,
        TaskState.REJECTED,
    }
    assert set(TRANSITIONS) == set(TaskState) - set(TERMINAL)
    assert all(not s.terminal for s in TRANSITIONS)


@pytest.mark.parametrize(("start", "end"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_move_works(start: TaskState, end: TaskState) -> None:
    task = task_in(start)
    moved = task.moved_to(end)
    assert moved.state is end
    assert moved.id == task.id
    assert moved.context_id == task.context_id
    assert task.state is start  # the original is untouched


ILLEGAL = [(a, b) for a in TRANSITIONS for b in TaskState if b not in TRANSITIONS[a]]


@pytest.mark.parametrize(("start", "end"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_move_from_a_live_state_is_refused(start: TaskState, end: TaskState) -> None:
    with pytest.raises(InvalidTransition) as caught:
        task_in(start).moved_to(end)
    assert repr(start.value) in str(caught.value)
    assert repr(end.value) in str(caught.value)


@pytest.mark.parametrize("start", TERMINAL, ids=str)
def test_terminal_states_refuse_every_move(start: TaskState) -> None:
    task = task_in(start)
    for end in TaskState:
        with pytest.raises(InvalidTransition) as caught:
            task.moved_to(end)
        text = str(caught.value)
        assert f"from {start.value!r} to {end.value!r}" in text
        assert "ended" in text
    assert isinstance(caught.value, InputError)
    assert task.state is start


def test_moved_to_appends_message_and_does_not_mutate() -> None:
    task = Task()
    first = Message.of_text("on it")
    second = Message.of_text("which date?")
    working = task.moved_to(TaskState.WORKING, first)
    asking = working.moved_to(TaskState.INPUT_REQUIRED, second)
    assert task.state is TaskState.SUBMITTED
    assert task.history == ()
    assert task.status_message is None
    assert working.history == (first,)
    assert working.status_message == first
    assert asking.history == (first, second)
    assert asking.status_message == second
    assert asking.state is TaskState.INPUT_REQUIRED


def test_moved_to_without_message_keeps_history() -> None:
    task = Task().moved_to(TaskState.WORKING, Message.of_text("a"))
    done = task.moved_to(TaskState.COMPLETED)
    assert done.history == task.history
    assert done.status_message is None


def test_with_artifact_appends_and_does_not_mutate() -> None:
    task = Task()
    artifact = Artifact(name="ticket", parts=(TextPart(text="TGV 6601"),))
    with_one = task.with_artifact(artifact)
    assert task.artifacts == ()
    assert with_one.artifacts == (artifact,)


def test_task_round_trips_through_json() -> None:
    task = (
        Task()
        .moved_to(TaskState.WORKING, Message.of_text("started"))
        .moved_to(TaskState.COMPLETED, Message.of_data({"price": 42}))
        .with_artifact(Artifact(name="out", parts=(TextPart(text="done"),)))
    )
    again = Task.parse(task.model_dump_json())
    assert again == task
    assert again.state is TaskState.COMPLETED
    assert len(again.history) == 2


def test_task_with_unknown_state_is_refused() -> None:
    with pytest.raises(MalformedMessage) as caught:
        Task.parse({"state": "sleeping"})
    assert caught.value.what == "task"
    assert any(p.startswith("state:") for p in caught.value.problems)
