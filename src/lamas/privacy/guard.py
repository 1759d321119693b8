"""The privacy guard: a middleware that keeps vault values out of an agent (the orchestrator).

It rejects, with `VaultValueLeak`, any envelope it sees that carries a vault value:
what the agent is asked (inbound), what it answers, and, on the agent's outbound side,
what it sends and what comes back. The same middleware wraps both sides (an outbound
"handler" is the transport: envelope in, reply out), so there is no path around it.
A rejected envelope is never handled or delivered; it is noted in `rejected` with the
field it carried (its name, never its value).

Sealed refs pass: they name a field and carry no value. Everything else is scanned:
text parts, data parts (keys and values, at any depth), file names and inline bytes,
and metadata, as the words of the message's JSON text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from lamas.errors import VaultValueLeak
from lamas.privacy.fingerprints import Fingerprints, tokens
from lamas.protocol.messages import DataPart, Envelope, FilePart, Message, SealedRef, TextPart
from lamas.protocol.types import Context, Handler, Middleware, Reply


@dataclass(frozen=True, slots=True)
class Rejection:
    envelope_id: str
    sender: str
    recipient: str
    where: str  # "inbound", "reply", "outbound", "outbound reply"
    field: str


def message_words(message: Message) -> list[bytes]:
    """Every word `message` carries, in order, as the fingerprints tokenise it.

    What a part carries (texts, data at any depth with its keys, file names and inline
    bytes, metadata) goes through one JSON serialisation in Rust, with the escapes for
    line breaks undone so that a value after a newline is still a word of its own.
    Sealed refs carry no value and are skipped.
    """
    parts = message.parts
    first = parts[0]
    if (
        message.metadata is None
        and isinstance(first, DataPart)
        and first.metadata is None
        and all(isinstance(p, SealedRef) for p in parts[1:])
    ):
        # The common case (a data part, perhaps with sealed refs): one value to serialise.
        return _words(to_json(first.data, serialize_unknown=True))
    carried: list[Any] = [message.metadata]
    for part in parts:
        if isinstance(part, TextPart):
            carried.append(part.text)
        elif isinstance(part, DataPart):
            carried.append(part.data)
        elif isinstance(part, FilePart):
            carried.append(part.file.model_dump())
        else:
            continue
        carried.append(part.metadata)
    return _words(to_json(carried, serialize_unknown=True))  # an odd object: its str()


def _words(raw: bytes) -> list[bytes]:
    if b"\\" in raw:
        raw = raw.replace(b"\\n", b" ").replace(b"\\t", b" ").replace(b"\\r", b" ")
    return tokens(raw)


class PrivacyGuard:
    """Rejects envelopes carrying any value of the vaults whose fingerprints it holds."""

    def __init__(self, fingerprints: Iterable[Fingerprints] = ()) -> None:
        self.fingerprints = list(fingerprints)
        self.rejected: list[Rejection] = []
        self.checked = 0

    def add(self, fingerprints: Fingerprints) -> None:
        self.fingerprints.append(fingerprints)

    def leaked(self, message: Message) -> str | None:
        """The name of the vault field whose value `message` carries, or None."""
        words = message_words(message)
        for prints in self.fingerprints:
            found = prints.find_tokens(words)
            if found is not None:
                return found
        return None

    def check(self, envelope: Envelope, where: str) -> None:
        self.checked += 1
        field = self.leaked(envelope.message)
        if field is not None:
            self._reject(envelope, where, field)

    def check_reply(self, envelope: Envelope, reply: Reply, where: str) -> None:
        if reply is None:
            return
        field = self.leaked(reply)
        if field is not None:
            self._reject(envelope, where, field)

    def _reject(self, envelope: Envelope, where: str, field: str) -> None:
        self.rejected.append(
            Rejection(envelope.id, envelope.sender, envelope.recipient, where, field)
        )
        raise VaultValueLeak(
            f"{where} envelope {envelope.id} ({envelope.sender} -> {envelope.recipient}, "
            f"{envelope.skill or envelope.kind}) carries the user's {field!r}; an orchestrator "
            "handles sealed refs only: assign the step with a vault grant instead"
        )

    def middleware(self, *, outbound: bool = False) -> Middleware:
        """The guard as middleware. On an agent (`outbound=False`) it checks each envelope
        the agent receives, each reply it gives, and, through the context, what it sends
        and gets back. Around a transport (`outbound=True`) the envelope is one the agent
        sends and the reply one it gets."""
        sent, answer = ("outbound", "outbound reply") if outbound else ("inbound", "reply")

        def wrap(handler: Handler) -> Handler:
            async def guarded(envelope: Envelope, context: Context) -> Reply:
                self.check(envelope, sent)
                inner = context if outbound else _GuardedContext(context, self)
                reply = await handler(envelope, inner)
                self.check_reply(envelope, reply, answer)
                return reply

            return guarded

        return wrap


class _GuardedContext:
    """The context an agent behind the guard gets: what it sends is checked too."""

    __slots__ = ("_guard", "_inner")

    def __init__(self, inner: Context, guard: PrivacyGuard) -> None:
        self._inner = inner
        self._guard = guard

    @property
    def agent_id(self) -> str:
        return self._inner.agent_id

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        self._guard.check(envelope, "outbound")
        reply = await self._inner.request(envelope, timeout=timeout)
        self._guard.check_reply(envelope, reply, "outbound reply")
        return reply

    async def post(self, envelope: Envelope) -> None:
        self._guard.check(envelope, "outbound")
        await self._inner.post(envelope)
