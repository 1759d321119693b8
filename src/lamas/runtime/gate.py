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


class Gate:
    """`request` and `post` through `middleware` (outermost first), then `transport`.

    It is a `Transport` itself, so code that takes one (consensus polling) can be given it.
    """

    def __init__(
        self, agent_id: str, transport: Transport, middleware: Iterable[Middleware] = ()
    ) -> None:
        self.agent_id = agent_id
        self.transport = transport
        self.middleware = tuple(middleware)

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        if not self.middleware:
            return await self.transport.request(envelope, timeout=timeout)

        async def deliver(sent: Envelope, context: Context) -> Reply:
            return await self.transport.request(sent, timeout=timeout)

        reply = await compose(deliver, self.middleware)(envelope, self)
        if reply is None:
            raise DeliveryError(f"a middleware of {self.agent_id} swallowed the reply")
        return reply

    async def post(self, envelope: Envelope) -> None:
        if not self.middleware:
            await self.transport.post(envelope)
            return

        async def deliver(sent: Envelope, context: Context) -> Reply:
            await self.transport.post(sent)
            return None

        await compose(deliver, self.middleware)(envelope, self)
