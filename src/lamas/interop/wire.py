"""Lamas envelopes and messages as A2A v1.0 messages, and back, without loss.

A2A's `Part` holds text, data (a `google.protobuf.Value`, where every number is a
double), a file by bytes or by URL. Lamas parts map onto those one to one, so a plain
A2A peer reads what we send. But a double turns `2` into `2.0`, and an envelope's
signature is over its exact JSON: so the exact lamas form also travels, as JSON text,
in the A2A metadata under `lamas.envelope` (a request) or `lamas.message` (a reply).
A lamas receiver uses that form (and so can check the signature); a plain peer ignores
it. Lamas-only facts (priority, signature, sealed refs, trace, the lamas task id a
ledger keys on) are in that metadata too, and nowhere a plain peer must understand.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from a2a.types import Message as A2AMessage
from a2a.types import Part as A2APart
from a2a.types import Role, TaskState
from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict, ParseDict

from lamas.errors import MalformedMessage
from lamas.protocol.messages import (
    DataPart,
    Envelope,
    FileContent,
    FilePart,
    Message,
    Part,
    SealedRef,
    TextPart,
)
from lamas.protocol.tasks import TaskState as LamasState

ENVELOPE_KEY = "lamas.envelope"
"""A2A message metadata key holding the exact lamas envelope, as JSON text."""
MESSAGE_KEY = "lamas.message"
"""A2A message metadata key holding the exact lamas reply message, as JSON text."""
KIND_KEY = "lamas.kind"
"""A2A part metadata key marking a lamas-only part kind (a sealed reference)."""
ANONYMOUS = "a2a-client"
"""The sender of an envelope built from a plain A2A message (which names no sender)."""

STATES: dict[LamasState, TaskState] = {
    LamasState.SUBMITTED: TaskState.TASK_STATE_SUBMITTED,
    LamasState.WORKING: TaskState.TASK_STATE_WORKING,
    LamasState.INPUT_REQUIRED: TaskState.TASK_STATE_INPUT_REQUIRED,
    LamasState.AUTH_REQUIRED: TaskState.TASK_STATE_AUTH_REQUIRED,
    LamasState.COMPLETED: TaskState.TASK_STATE_COMPLETED,
    LamasState.FAILED: TaskState.TASK_STATE_FAILED,
    LamasState.CANCELED: TaskState.TASK_STATE_CANCELED,
    LamasState.REJECTED: TaskState.TASK_STATE_REJECTED,
}
LAMAS_STATES = {a2a: lamas for lamas, a2a in STATES.items()}


# --- parts --------------------------------------------------------------------------------


def part_to_a2a(part: Part) -> A2APart:
    """One lamas part as an A2A part (a sealed reference is a data part marked as one)."""
    metadata = dict(part.metadata or {}) if not isinstance(part, SealedRef) else {}
    if isinstance(part, TextPart):
        return A2APart(text=part.text, metadata=_struct(metadata))
    if isinstance(part, DataPart):
        return A2APart(data=ParseDict(part.data, struct_pb2.Value()), metadata=_struct(metadata))
    if isinstance(part, FilePart):
        file = part.file
        common: dict[str, Any] = {
            "filename": file.name or "",
            "media_type": file.mime_type or "",
            "metadata": _struct(metadata),
        }
        if file.bytes is not None:
            return A2APart(raw=base64.b64decode(file.bytes), **common)
        return A2APart(url=file.uri or "", **common)
    sealed = part.model_dump(mode="json", exclude={"kind"})
    return A2APart(
        data=ParseDict(sealed, struct_pb2.Value()),
        metadata=_struct({KIND_KEY: "sealed_ref"}),
    )


def part_from_a2a(part: A2APart) -> Part:
    """An A2A part as a lamas part; raises `MalformedMessage` for an empty one."""
    metadata = MessageToDict(part.metadata) if part.HasField("metadata") else {}
    if metadata.get(KIND_KEY) == "sealed_ref" and part.HasField("data"):
        return SealedRef.model_validate(_integral(MessageToDict(part.data)))
    extra = metadata or None
    if part.HasField("text"):
        return TextPart(text=part.text, metadata=extra)
    if part.HasField("data"):
        data = _integral(MessageToDict(part.data))
        if not isinstance(data, dict):
            data = {"value": data}  # lamas data parts are objects
        return DataPart(data=data, metadata=extra)
    if part.HasField("raw") or part.HasField("url"):
        file = FileContent(
            name=part.filename or None,
            mime_type=part.media_type or None,
            bytes=base64.b64encode(part.raw).decode() if part.HasField("raw") else None,
            uri=part.url if part.HasField("url") else None,
        )
        return FilePart(file=file, metadata=extra)
    raise MalformedMessage("A2A part", ["it has no text, data, raw bytes or url"])


# --- messages and envelopes ---------------------------------------------------------------


def message_to_a2a(message: Message, *, exact: bool = True) -> A2AMessage:
    """A lamas message as an A2A message; with `exact`, its lamas form rides in metadata."""
    metadata = dict(message.metadata or {})
    if exact:
        metadata[MESSAGE_KEY] = message.model_dump_json()
    return A2AMessage(
        message_id=message.message_id,
        role=Role.ROLE_USER if message.role == "user" else Role.ROLE_AGENT,
        parts=[part_to_a2a(p) for p in message.parts],
        metadata=_struct(metadata),
    )


def message_from_a2a(message: A2AMessage) -> Message:
    """An A2A message as a lamas message: the exact lamas form if it carries one."""
    metadata = MessageToDict(message.metadata) if message.HasField("metadata") else {}
    exact = metadata.pop(MESSAGE_KEY, None)
    if isinstance(exact, str):
        return Message.parse(exact)
    if not message.parts:
        raise MalformedMessage("A2A message", ["it has no parts"])
    return Message(
        role="user" if message.role == Role.ROLE_USER else "agent",
        parts=tuple(part_from_a2a(p) for p in message.parts),
        message_id=message.message_id or Message.of_text(".").message_id,
        metadata=_integral(metadata) or None,
    )


def envelope_to_a2a(envelope: Envelope) -> A2AMessage:
    """A lamas envelope as the A2A message that carries it (role user: it is a request).

    The A2A task and context ids are left for the server to assign: a lamas task id
    names the caller's task, which the remote agent does not hold.
    """
    a2a = message_to_a2a(envelope.message, exact=False)
    a2a.role = Role.ROLE_USER
    metadata = MessageToDict(a2a.metadata) if a2a.HasField("metadata") else {}
    metadata[ENVELOPE_KEY] = envelope.model_dump_json()
    a2a.metadata.CopyFrom(_struct(metadata))
    return a2a


def envelope_from_a2a(message: A2AMessage, *, recipient: str, sender: str = ANONYMOUS) -> Envelope:
    """The lamas envelope an A2A message carries, or one built for a plain A2A request.

    A carried envelope is parsed as it is (`MalformedMessage` if it is not one), so that
    its signature can be checked; a plain request becomes an unsigned envelope from
    `sender` (`a2a-client` by default) to `recipient`, its skill taken from metadata
    `skill` if given.
    """
    metadata = MessageToDict(message.metadata) if message.HasField("metadata") else {}
    exact = metadata.get(ENVELOPE_KEY)
    if isinstance(exact, str):
        return Envelope.parse(exact)
    body = message_from_a2a(message).model_copy(update={"role": "user"})
    skill = metadata.get("skill")
    return Envelope(
        sender=sender,
        recipient=recipient,
        skill=skill if isinstance(skill, str) else None,
        context_id=message.context_id or None,
        message=body,
    )


# --- helpers ------------------------------------------------------------------------------


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if value:
        struct.update(json.loads(json.dumps(value)))
    return struct


def _integral(value: Any) -> Any:
    """Whole-number doubles back to ints (protobuf's `Value` has only doubles): the best a
    plain A2A peer's data allows. Lamas peers send the exact form instead."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value
