"""The message exchange protocol's wire types: parts, messages, envelopes.

`Message` and `Part` have the shape of A2A's Message and Part (text, data,
file) so that mapping to and from A2A is one-to-one, plus `SealedRef`: a
handle to one field of a user's vault that carries no value, so that an
orchestrator can route private data it never sees.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lamas.protocol._validation import parse, trusted

AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$"


_IDS_PER_READ = 256
_ids: deque[str] = deque()  # ids cut from one read of the OS's random source, not yet given
# A forked child must not give out the ids its parent may still give: it reads its own.
os.register_at_fork(after_in_child=_ids.clear)


def new_id() -> str:
    """A fresh random identifier: 128 random bits (from `os.urandom`) as 32 hex digits.

    The same entropy as uuid4. Ids are made on every hop (two per request), and a read
    of the OS's random source costs a system call, so one read makes 256 of them:
    ~0.15 us an id against 0.5. `deque.popleft` is atomic, so threads never share one.
    """
    try:
        return _ids.popleft()
    except IndexError:
        digits = os.urandom(16 * _IDS_PER_READ).hex()
        _ids.extend(digits[at : at + 32] for at in range(32, len(digits), 32))
        return digits[:32]


class Wire(BaseModel):
    """Base of every wire type: immutable, and unknown fields are an error, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class TextPart(Wire):
    kind: Literal["text"] = "text"
    text: str
    metadata: dict[str, Any] | None = None


class DataPart(Wire):
    kind: Literal["data"] = "data"
    data: dict[str, Any]
    metadata: dict[str, Any] | None = None


class FileContent(Wire):
    """A file given inline (base64 `bytes`) or by `uri`: exactly one of the two."""

    name: str | None = None
    mime_type: str | None = None
    bytes: str | None = Field(default=None, description="base64-encoded content")
    uri: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> FileContent:
        if (self.bytes is None) == (self.uri is None):
            raise ValueError("a file needs exactly one of 'bytes' (base64) or 'uri'")
        return self


class FilePart(Wire):
    kind: Literal["file"] = "file"
    file: FileContent
    metadata: dict[str, Any] | None = None


class SealedRef(Wire):
    """A handle to one field of a user's vault. It names the field; it never holds the value.

    Only an agent holding a grant for this task can redeem it, directly with the vault.
    """

    kind: Literal["sealed_ref"] = "sealed_ref"
    field: str = Field(min_length=1, max_length=128)
    vault_id: str = Field(min_length=1, max_length=128)
    token: str = Field(min_length=16, max_length=256, description="unguessable redemption token")


Part = Annotated[TextPart | DataPart | FilePart | SealedRef, Field(discriminator="kind")]


class Message(Wire):
    """One turn of a conversation between a user and agents (A2A Message)."""

    role: Literal["user", "agent"] = "agent"
    parts: tuple[Part, ...] = Field(min_length=1)
    message_id: str = Field(default_factory=new_id, min_length=1)
    metadata: dict[str, Any] | None = None

    @classmethod
    def of_text(cls, text: str, *, role: Literal["user", "agent"] = "agent") -> Message:
        if type(text) is str and role in ("user", "agent"):
            # Valid by construction: skip the validator (most replies are built here, and
            # validating them was a third of an in-process request's cost).
            part = trusted(TextPart, {"kind": "text", "text": text, "metadata": None}, {"text"})
            values = {"role": role, "parts": (part,), "message_id": new_id(), "metadata": None}
            return trusted(cls, values, {"role", "parts"})
        return cls(role=role, parts=(TextPart(text=text),))

    @classmethod
    def of_data(cls, data: dict[str, Any], *, role: Literal["user", "agent"] = "agent") -> Message:
        return cls(role=role, parts=(DataPart(data=data),))

    @property
    def text(self) -> str:
        """All text parts joined by newlines ('' if there are none)."""
        return "\n".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def data(self) -> dict[str, Any]:
        """The data parts merged in order (later keys win; {} if there are none)."""
        merged: dict[str, Any] = {}
        for part in self.parts:
            if isinstance(part, DataPart):
                merged.update(part.data)
        return merged

    @property
    def sealed_refs(self) -> tuple[SealedRef, ...]:
        return tuple(p for p in self.parts if isinstance(p, SealedRef))

    @classmethod
    def parse(cls, data: str | bytes | dict[str, Any]) -> Message:
        return parse(cls, data, "message")


EnvelopeKind = Literal["request", "reply", "event", "error"]


class Envelope(Wire):
    """One message on the wire, with its routing, priority and tracing facts."""

    id: str = Field(default_factory=new_id, min_length=1, max_length=128)
    task_id: str | None = None
    context_id: str | None = None
    sender: str = Field(pattern=AGENT_ID_PATTERN)
    recipient: str = Field(pattern=AGENT_ID_PATTERN, description="an agent id or a topic")
    skill: str | None = Field(default=None, description="the capability asked for, if any")
    kind: EnvelopeKind = "request"
    priority: int = Field(default=0, ge=0, le=9, description="9 overtakes 0 in a queue")
    mode: Literal["sync", "async"] = "sync"
    sent_at: float = Field(default_factory=time.time, description="seconds since the epoch")
    deadline: float | None = Field(default=None, description="absolute, seconds since the epoch")
    trace: str | None = Field(default=None, description="W3C traceparent")
    signature: str | None = None
    message: Message

    @classmethod
    def parse(cls, data: str | bytes | dict[str, Any]) -> Envelope:
        return parse(cls, data, "envelope")
