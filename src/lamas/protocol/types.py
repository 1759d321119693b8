"""The contract everything is built on, as Starlette's types.py fixes ASGI.

An agent is a `Handler` wrapped in `Middleware`; a handler is given the
envelope and a `Context` through which it can talk to other agents. A handler
answers a request with a `Message`, or `None` for a one-way envelope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from lamas.protocol.messages import Envelope, Message

Reply = Message | None


class Context(Protocol):
    """What a handler may do besides reading its envelope."""

    @property
    def agent_id(self) -> str: ...

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message: ...

    async def post(self, envelope: Envelope) -> None: ...


Handler = Callable[[Envelope, Context], Awaitable[Reply]]
Middleware = Callable[[Handler], Handler]
