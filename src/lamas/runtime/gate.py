"""An agent's outbound side as a handler, so the same middleware can wrap it.

Middleware wraps what an agent receives: envelope in, reply out. What an agent sends has
the same shape seen from the other side (envelope out, reply back), so a `Gate` makes
the transport a handler and wraps it in middleware: a privacy guard, say, then checks
what the orchestrator sends and gets back exactly as it checks what it receives.
"""

from __future__ import annotations

from collections.abc import Iterable

from lamas.agent.agent import compose
from lamas.errors import DeliveryError
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Middleware, Reply
from lamas.runtime.transport import Transport


class _Call:
    """The context of one send through the gate: who sends, and the request's timeout."""

    __slots__ = ("_gate", "agent_id", "timeout")

    def __init__(self, gate: Gate, timeout: float | None) -> None:
        self._gate = gate
        self.agent_id = gate.agent_id
        self.timeout = timeout

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        return await self._gate.request(envelope, timeout=timeout)

    async def post(self, envelope: Envelope) -> None:
        await self._gate.post(envelope)


def with_timeout(context: Context, timeout: float | None) -> Context | None:
    """A copy of a gate's `context` that gives the request `timeout` seconds (the
    transport counts them from when the request is sent, after its own queue for a
    connection); None if `context` is not a gate's."""
    if isinstance(context, _Call):
        return _Call(context._gate, timeout)
    return None


class Gate:
    """`request` and `post` through `middleware` (outermost first), then `transport`.

    It is a `Transport` itself, so code that takes one (consensus polling) can be given it.
    The stack is composed once; each send costs its middleware and one small context.
    """

    def __init__(
        self, agent_id: str, transport: Transport, middleware: Iterable[Middleware] = ()
    ) -> None:
        self.agent_id = agent_id
        self.transport = transport
        self.middleware = tuple(middleware)
        self._request = compose(self._deliver_request, self.middleware)
        self._post = compose(self._deliver_post, self.middleware)

    async def _deliver_request(self, envelope: Envelope, context: Context) -> Reply:
        timeout = context.timeout if isinstance(context, _Call) else None
        return await self.transport.request(envelope, timeout=timeout)

    async def _deliver_post(self, envelope: Envelope, context: Context) -> Reply:
        await self.transport.post(envelope)
        return None

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        if not self.middleware:
            return await self.transport.request(envelope, timeout=timeout)
        reply = await self._request(envelope, _Call(self, timeout))
        if reply is None:
            raise DeliveryError(f"a middleware of {self.agent_id} swallowed the reply")
        return reply

    async def post(self, envelope: Envelope) -> None:
        if not self.middleware:
            await self.transport.post(envelope)
            return
        await self._post(envelope, _Call(self, None))
