"""`Agent`: an agent card plus a handler wrapped in a middleware stack (ASGI-style).

Every cross-cutting concern (signature checks, injection defence, privacy
guard, metering, tracing, rate limits) is a `Middleware(Handler) -> Handler`,
so a stack composes uniformly and each concern lives in one file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from lamas.errors import SchemaViolation
from lamas.protocol.cards import AgentCard
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Handler, Middleware, Reply


def compose(handler: Handler, middleware: Iterable[Middleware]) -> Handler:
    """Wrap `handler` in `middleware`, listed outermost first (the first sees envelopes first)."""
    for wrap in reversed(tuple(middleware)):
        handler = wrap(handler)
    return handler


CALLED = "lamas.called"
"""Reply metadata key: the agents a handler sent to on the request's task (subcontracting).

Settlement credits them (a vendor that fetched the traveller's details from the user's
personal agent owes that part of the value to the user). Carried in the reply, so that the
orchestrator learns it the same way in-process, over A2A and on Ray, where it cannot watch
the agents' own traffic."""


class Agent:
    """An agent: its public card and the composed handler that answers envelopes."""

    __slots__ = ("card", "handle")

    def __init__(
        self, card: AgentCard, handler: Handler, *, middleware: Iterable[Middleware] = ()
    ) -> None:
        self.card = card
        self.handle: Handler = noting_calls(compose(handler, middleware))

    @property
    def id(self) -> str:
        return self.card.id

    async def __call__(self, envelope: Envelope, context: Context) -> Reply:
        return await self.handle(envelope, context)

    def __repr__(self) -> str:
        return f"Agent({self.card.id!r}, entity={self.card.entity!r})"


def called_by(reply: Message) -> frozenset[str]:
    """The agents a reply says its sender called on the task (see `CALLED`); a malformed
    entry is ignored, not trusted: only agent ids (strings) count."""
    said = (reply.metadata or {}).get(CALLED)
    if not isinstance(said, list):
        return frozenset()
    return frozenset(agent for agent in said if isinstance(agent, str) and 0 < len(agent) <= 128)


class _NotingContext:
    """The handler's context, noting whom it sends to on the request's task."""

    __slots__ = ("called", "context", "task_id")

    def __init__(self, context: Context, task_id: str) -> None:
        self.context = context
        self.task_id = task_id
        self.called: set[str] = set()

    @property
    def agent_id(self) -> str:
        return self.context.agent_id

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        if envelope.task_id == self.task_id:
            self.called.add(envelope.recipient)
        return await self.context.request(envelope, timeout=timeout)

    async def post(self, envelope: Envelope) -> None:
        if envelope.task_id == self.task_id:
            self.called.add(envelope.recipient)
        await self.context.post(envelope)


def noting_calls(handler: Handler) -> Handler:
    """`handler`, its reply to a task's request carrying whom it sent to on that task
    (under `CALLED` in the reply's metadata, merged with what it says already)."""
    if getattr(handler, "notes_calls", False):
        return handler  # already wrapped (an agent re-served elsewhere, e.g. a what-if world)

    def handle(envelope: Envelope, context: Context) -> Awaitable[Reply]:
        task_id = envelope.task_id
        if task_id is None:  # no task to note calls on: the handler's own awaitable
            return handler(envelope, context)  # (a coroutine less per request)
        return _noted(handler, envelope, context, task_id)

    handle.notes_calls = True  # type: ignore[attr-defined]
    return handle


async def _noted(handler: Handler, envelope: Envelope, context: Context, task_id: str) -> Reply:
    """`handler`'s reply to a task's request, with whom it sent to on that task (one
    function for every agent: a closure per agent would cost each idle agent its size)."""
    noting = _NotingContext(context, task_id)
    reply = await handler(envelope, noting)
    called = noting.called - {envelope.sender, context.agent_id}
    if reply is None or not called:
        return reply
    metadata = dict(reply.metadata or {})
    metadata[CALLED] = sorted(called | set(metadata.get(CALLED) or ()))
    return reply.model_copy(update={"metadata": metadata})


SkillFunction = Callable[[dict[str, Any], Envelope, Context], Awaitable[dict[str, Any]]]


def skill_router(card: AgentCard, skills: Mapping[str, SkillFunction]) -> Handler:
    """A handler that dispatches on `envelope.skill` to one function per skill of `card`.

    Each function gets the request's data part (checked against the skill's input
    schema: this is a trust boundary) and returns the data of its reply.
    """
    missing = sorted({s.name for s in card.skills} - set(skills))
    extra = sorted(set(skills) - {s.name for s in card.skills})
    if missing or extra:
        raise SchemaViolation(
            f"skill functions for {card.id!r} do not match its card: "
            f"missing {missing or 'none'}, not on the card {extra or 'none'}"
        )
    from jsonschema import Draft202012Validator

    validators = {s.name: Draft202012Validator(s.input_schema) for s in card.skills}

    async def route(envelope: Envelope, context: Context) -> Reply:
        name = envelope.skill or (card.skills[0].name if len(card.skills) == 1 else None)
        if name is None or name not in skills:
            offered = ", ".join(sorted(skills))
            raise SchemaViolation(f"{card.id!r} has no skill {name!r}; it offers: {offered}")
        data = envelope.message.data
        problems = [
            f"{'.'.join(str(p) for p in e.absolute_path) or '(input)'}: {e.message}"
            for e in validators[name].iter_errors(data)
        ]
        if problems:
            raise SchemaViolation(f"input to {card.id}.{name} is invalid: {'; '.join(problems)}")
        result = await skills[name](data, envelope, context)
        return Message.of_data(result)

    return route
