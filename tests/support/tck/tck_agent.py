"""The TCK agent's handler: a text reply to anything (the TCK drives the protocol)."""

from __future__ import annotations

from typing import Any

from lamas.protocol import Message


def replier(card: Any) -> Any:
    async def handle(envelope: Any, context: Any) -> Message:
        return Message.of_text("Hello from TCK")

    return handle
