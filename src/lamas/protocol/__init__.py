"""The protocol: pure data and pure functions. No I/O, no asyncio.

A reader who opens only this package should understand the whole system's
vocabulary: envelopes and messages, agent cards, tasks, plans, and the
handler/middleware contract.
"""

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
