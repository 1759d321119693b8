"""The task's "today", told to the agents a task calls.

A task run with a fixed today (`lamas demo --today`, a replay, a test) must mean the same
day everywhere: the orchestrator resolves "tomorrow" against it, and a vendor that refuses
dates in the past must check against it too, not against its own clock. The convention is
one metadata key on each request's message, `today` (YYYY-MM-DD); an agent reads it with
`today_of` and falls back to the real date when a caller sets none.
"""

from __future__ import annotations

import datetime as dt

from lamas.protocol.messages import Envelope
from lamas.protocol.types import Context, Handler, Middleware, Reply

TODAY_KEY = "today"


def stamp_today(today: dt.date) -> Middleware:
    """Outbound middleware (an orchestrator's gate) that puts `today` into every request's
    message metadata, unless the message already says one."""
    stamp = today.isoformat()

    def wrap(handler: Handler) -> Handler:
        async def stamped(envelope: Envelope, context: Context) -> Reply:
            metadata = envelope.message.metadata or {}
            if envelope.kind == "request" and TODAY_KEY not in metadata:
                message = envelope.message.model_copy(
                    update={"metadata": {**metadata, TODAY_KEY: stamp}}
                )
                envelope = envelope.model_copy(update={"message": message})
            return await handler(envelope, context)

        return stamped

    return wrap


def today_of(envelope: Envelope) -> dt.date:
    """The today a request was stamped with, else the real date (a malformed stamp is
    ignored: the real date is the safe side for refusing past dates)."""
    stamped = (envelope.message.metadata or {}).get(TODAY_KEY)
    if isinstance(stamped, str):
        try:
            return dt.date.fromisoformat(stamped)
        except ValueError:
            pass
    return dt.date.today()
