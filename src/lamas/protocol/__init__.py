"""The protocol: pure data and pure functions. No I/O, no asyncio.

A reader who opens only this package should understand the whole system's
vocabulary: envelopes and messages, agent cards, tasks, plans, and the
handler/middleware contract.

The names below load on first use (`lamas._lazy`): each wire type is a pydantic model
whose class costs ~0.3 ms to build, and `from lamas import Envelope` should not build the
plans' and tasks' models it does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamas._lazy import exports

if TYPE_CHECKING:
    from lamas.protocol.cards import AgentCard, Price, Skill
    from lamas.protocol.messages import (
        DataPart,
        Envelope,
        FileContent,
        FilePart,
        Message,
        Part,
        SealedRef,
        TextPart,
        new_id,
    )
    from lamas.protocol.plan import Plan, Step
    from lamas.protocol.tasks import Artifact, Task, TaskState
    from lamas.protocol.types import Context, Handler, Middleware, Reply

__all__ = [
    "AgentCard",
    "Artifact",
    "Context",
    "DataPart",
    "Envelope",
    "FileContent",
    "FilePart",
    "Handler",
    "Message",
    "Middleware",
    "Part",
    "Plan",
    "Price",
    "Reply",
    "SealedRef",
    "Skill",
    "Step",
    "Task",
    "TaskState",
    "TextPart",
    "new_id",
]

_MESSAGES = "lamas.protocol.messages"
_HOME: dict[str, str] = {
    "AgentCard": "lamas.protocol.cards",
    "Price": "lamas.protocol.cards",
    "Skill": "lamas.protocol.cards",
    "DataPart": _MESSAGES,
    "Envelope": _MESSAGES,
    "FileContent": _MESSAGES,
    "FilePart": _MESSAGES,
    "Message": _MESSAGES,
    "Part": _MESSAGES,
    "SealedRef": _MESSAGES,
    "TextPart": _MESSAGES,
    "new_id": _MESSAGES,
    "Plan": "lamas.protocol.plan",
    "Step": "lamas.protocol.plan",
    "Artifact": "lamas.protocol.tasks",
    "Task": "lamas.protocol.tasks",
    "TaskState": "lamas.protocol.tasks",
    "Context": "lamas.protocol.types",
    "Handler": "lamas.protocol.types",
    "Middleware": "lamas.protocol.types",
    "Reply": "lamas.protocol.types",
}

__getattr__, __dir__ = exports(__name__, _HOME, globals())
