"""Any lamas agent as an A2A v1.0 server: JSON-RPC and HTTP+JSON over HTTP (streaming by
SSE), and gRPC beside them (`interop.bindings`).

`a2a_app(card, deliver)` is a Starlette app serving the agent card at
`/.well-known/agent-card.json` (advertising exactly `card.url`), JSON-RPC at `/` and the
HTTP+JSON routes.
Each A2A request becomes one lamas task on the agent's side, which moves through the
A2A states as the agent works:

- submitted when the request is taken, working while the agent handles it; every
  envelope the agent sends on the task's behalf meanwhile is streamed as a working
  status update ("asked railgo for ticket.search"), so a streaming client sees
  progress as it happens;
- the reply is streamed as an artifact, then the task ends completed; a reply whose
  data says `state: input-required` (the orchestrator asking back) leaves the task
  waiting for input, and the next message on that A2A task answers it;
- a new request for a skill the card declares `immediate` is answered with a plain
  A2A Message instead, no task (unless it fails or asks back: then it is a task);
- an error ends it failed, with the error's type and text; a cancel stops the handler
  (its coroutine is cancelled) and ends it canceled.

`deliver` hands the envelope to the agent: normally the node's local transport, so that
access rules, signature checks and rate limits apply exactly as in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.tasks import TaskStore, TaskUpdater
from a2a.types import Message as A2AMessage
from starlette.applications import Starlette
from starlette.types import ASGIApp

from lamas.errors import ConfigError, MalformedMessage
from lamas.interop.bindings import http_routes
from lamas.interop.cards import to_a2a_card
from lamas.interop.front import Front
from lamas.interop.guard import AccessGuard, CallerContextBuilder, GuardedRequestHandler, declare
from lamas.interop.limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_TASKS
from lamas.interop.taskstore import task_store
from lamas.interop.wire import ANONYMOUS, ENVELOPE_KEY, STATES, envelope_from_a2a, message_to_a2a
from lamas.protocol.cards import AgentCard
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.tasks import TaskState
from lamas.store.errors import public_text

log = logging.getLogger(__name__)

Deliver = Callable[[Envelope], Awaitable[Message]]


class _Progress:
    """An A2A task's updater and the progress updates still being sent for it."""

    __slots__ = ("agent_id", "sending", "updater")

    def __init__(self, updater: TaskUpdater, agent_id: str) -> None:
        self.updater = updater
        self.agent_id = agent_id
        self.sending: set[asyncio.Task[None]] = set()

    async def flush(self) -> None:
        """Wait for every progress update sent so far (they precede the final state)."""
        while self.sending:
            await asyncio.gather(*tuple(self.sending), return_exceptions=True)


_progress: contextvars.ContextVar[_Progress | None] = contextvars.ContextVar(
    "lamas_a2a_progress", default=None
)
"""The A2A task being worked on in this asyncio context: envelopes sent within it are
its progress. A context variable, because a handler's sub-requests run in its context."""


def report_progress(envelope: Envelope) -> None:
    """A transport observer: streams an envelope sent on an A2A task's behalf as progress."""
    progress = _progress.get()
    if progress is None or envelope.recipient == progress.agent_id:
        return  # not an A2A task's work, or the request itself arriving
    updater = progress.updater
    what = envelope.skill or envelope.kind
    text = f"{envelope.sender} asked {envelope.recipient} for {what}"
    message = new_text_message(text, context_id=updater.context_id, task_id=updater.task_id)
    # The observer is synchronous; the status update is sent from a task of its own,
    # which the executor awaits before it ends the A2A task.
    task = asyncio.get_running_loop().create_task(_quietly(updater, message))
    progress.sending.add(task)
    task.add_done_callback(progress.sending.discard)


async def _quietly(updater: TaskUpdater, message: A2AMessage) -> None:
    # RuntimeError: the task ended (canceled) first, and progress no longer matters.
    with contextlib.suppress(RuntimeError):
        await updater.update_status(STATES[TaskState.WORKING], message=message)


class LamasExecutor(AgentExecutor):
    """Runs A2A requests as lamas tasks of one agent (see the module's docstring).

    A new request for one of the `immediate` skills (declared `immediate` in the card:
    no long work, no follow-up) is answered with a plain A2A Message, as the spec allows,
    with no task at all; should it fail or ask back after all, it becomes a task then.
    """

    def __init__(
        self,
        agent_id: str,
        deliver: Deliver,
        *,
        anonymous: str = ANONYMOUS,
        immediate: Iterable[str] = (),
        max_questions: int = DEFAULT_MAX_TASKS,
    ) -> None:
        if max_questions < 1:
            raise ConfigError(f"max_questions must be at least 1, got {max_questions}")
        self.agent_id = agent_id
        self.deliver = deliver
        self.anonymous = anonymous  # who a plain A2A request (no lamas envelope) is from
        self.immediate = frozenset(immediate)
        self.max_questions = max_questions
        # An A2A task waiting for input -> the lamas task id the agent asked it under.
        # Bounded: while `max_questions` tasks wait for their answers, new tasks are refused
        # as busy (answers and cancels still get through and free places). Requests in
        # flight when it fills may still add theirs: it overshoots by at most those.
        self._waiting: dict[str, str] = {}

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        request = context.message
        if request is None:
            raise MalformedMessage("A2A request", ["it carries no message"])
        task_id, context_id = context.task_id or "", context.context_id or ""
        opened = context.current_task is not None

        async def open_task() -> None:
            nonlocal opened
            if not opened:
                request.task_id, request.context_id = task_id, context_id
                try:
                    task = new_task_from_user_message(request)
                except ValueError as error:  # an empty text part, no parts, not the user's
                    raise MalformedMessage("A2A request", [str(error)]) from error
                await event_queue.enqueue_event(task)
                opened = True

        updater = TaskUpdater(event_queue, task_id, context_id)
        try:
            envelope = envelope_from_a2a(request, recipient=self.agent_id, sender=self.anonymous)
        except MalformedMessage as error:
            await open_task()
            await updater.reject(_status(updater, f"MalformedMessage: {error}"))
            return
        if not opened and len(self._waiting) >= self.max_questions:
            await open_task()
            await updater.reject(_status(updater, self._busy_text()))
            return
        at_once = not opened and envelope.skill in self.immediate
        if not at_once:
            await open_task()
        if not _carries_envelope(request) and task_id in self._waiting:
            envelope = envelope.model_copy(update={"task_id": self._waiting.pop(task_id)})
        progress = _Progress(updater, self.agent_id)
        token = None
        if not at_once:  # a Message answer has no task to report progress on
            await updater.start_work(_status(updater, f"{self.agent_id} is working on it"))
            token = _progress.set(progress)
        try:
            reply = await self.deliver(envelope)
        except Exception as error:  # the caller learns what failed; the server goes on
            log.info("A2A task %s failed at %s: %s", task_id, self.agent_id, error)
            await progress.flush()
            await open_task()
            said = public_text(error, f"{self.agent_id}'s database")  # its SQL stays in the log
            if isinstance(getattr(error, "retry_after", None), int | float):
                # Refused for load (busy, rate limited): nothing was started, as at the
                # HTTP edge's 503; the gRPC binding and a request racing the edge get here.
                await updater.reject(_status(updater, said))
            else:
                await updater.failed(_status(updater, said))
            return
        finally:
            if token is not None:
                _progress.reset(token)
        await progress.flush()
        answer = message_to_a2a(reply)
        state = _reply_state(reply)
        if at_once and state is TaskState.COMPLETED:
            answer.context_id = context_id
            await event_queue.enqueue_event(answer)
            return
        await open_task()
        answer.task_id, answer.context_id = task_id, context_id
        await updater.add_artifact(list(answer.parts), name="reply", metadata=_meta(answer))
        if state is TaskState.INPUT_REQUIRED:
            lamas_task = reply.data.get("task_id")
            if isinstance(lamas_task, str):
                self._waiting[task_id] = lamas_task
            await updater.requires_input(answer)
        elif state is TaskState.FAILED:
            await updater.failed(answer)
        else:
            await updater.complete(answer)

    def _busy_text(self) -> str:
        return (
            f"Busy: busy, retry later: {self.agent_id} has {len(self._waiting)} tasks waiting "
            "for their answers, as many as it keeps; answer or cancel one, or retry later "
            "(the task was not started)"
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        # The framework cancels execute()'s coroutine (and so the handler's work); here
        # the task is only marked canceled.
        task_id, context_id = context.task_id or "", context.context_id or ""
        self._waiting.pop(task_id, None)
        updater = TaskUpdater(event_queue, task_id, context_id)
        await updater.cancel(_status(updater, f"canceled at {self.agent_id}"))


def a2a_app(
    card: AgentCard,
    deliver: Deliver,
    *,
    anonymous: str = ANONYMOUS,
    grpc_target: str | None = None,
    guard: AccessGuard | None = None,
    tasks: TaskStore | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_questions: int = DEFAULT_MAX_TASKS,
) -> ASGIApp:
    """The app serving `card`'s agent over A2A: the card at the well-known path, JSON-RPC
    (SSE streaming) at `/` and HTTP+JSON beside it (`interop.bindings`); plain A2A requests
    come from `anonymous`. The one request handler behind every binding is
    `app.state.request_handler`: a gRPC front (at `grpc_target`, listed in the card) is
    built over that same object.

    Every method of every binding goes through `guard` (`interop/guard.py`); without one
    the agent is public and knows no agent keys, so callers are told apart by task
    capability only. Tasks are kept in `tasks` (default: in memory, bounded; see
    `interop/taskstore.py`); while `max_questions` of them wait for their answers
    (input-required), new tasks are refused as busy.
    """
    guard = guard or AccessGuard(card.id, public=True)
    a2a_card = declare(to_a2a_card(card, grpc_target=grpc_target), public=guard.public)
    handler = GuardedRequestHandler(
        DefaultRequestHandler(
            agent_executor=LamasExecutor(
                card.id,
                deliver,
                anonymous=anonymous,
                immediate=(skill.name for skill in card.skills if skill.immediate),
                max_questions=max_questions,
            ),
            task_store=tasks if tasks is not None else task_store(),
            agent_card=a2a_card,
        ),
        guard,
    )
    app = Starlette(routes=http_routes(a2a_card, handler, context_builder=CallerContextBuilder()))
    app.state.request_handler = handler
    return Front(app, max_body_bytes=max_body_bytes, public=guard.public)


def _status(updater: TaskUpdater, text: str) -> A2AMessage:
    return new_text_message(text, context_id=updater.context_id, task_id=updater.task_id)


def _carries_envelope(message: A2AMessage) -> bool:
    return message.HasField("metadata") and ENVELOPE_KEY in message.metadata.fields


def _meta(message: A2AMessage) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message.metadata) if message.HasField("metadata") else {}


def _reply_state(reply: Message) -> TaskState:
    """The state a reply leaves its task in: what its data says (an orchestrator's reply
    names its task's state), completed otherwise."""
    state = reply.data.get("state")
    try:
        return TaskState(state) if isinstance(state, str) else TaskState.COMPLETED
    except ValueError:
        return TaskState.COMPLETED
