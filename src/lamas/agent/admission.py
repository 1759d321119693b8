"""Memory-poisoning defence: admission control for long-term memory and shared experience.

Nothing enters memory without its provenance (who wrote it, for which task, signed by
the writer's key), a screen for injected instructions, and, when it states facts drawn
from a tool's result, a check that the result it cites supports them. Entries that fail
are rejected and recorded; entries that got in can be traced and purged by source.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lamas.agent.episodic import Episode, EpisodicMemory
from lamas.errors import InputError
from lamas.protocol.ledger import canonical_json
from lamas.security.identity import KeyRing, PrivateKey

Screen = Callable[[str], str | None]
"""Returns why `text` looks like an injection, or None if it looks clean."""


class MemoryRejected(InputError):
    def __init__(self, author: str, reason: str) -> None:
        self.author = author
        self.reason = reason
        super().__init__(f"memory write by {author!r} rejected: {reason}")


@dataclass(frozen=True, slots=True)
class Provenance:
    author: str
    task_id: str
    source: str = "agent"
    """What the text came from: agent, tool:<name>, document, user."""
    at: float = field(default_factory=time.time)


# Facts a small model states and an attacker plants: numbers, and names in capitals.
_CHECKABLE = re.compile(r"\b\d+(?:[.,:]\d+)*\b|\b[A-Z][\w'-]{2,}\b")


def unsupported(claim: str, evidence: str) -> list[str]:
    """The numbers and proper names in `claim` that `evidence` does not contain."""
    folded = evidence.casefold()
    sentence_starts = {m.group(1) for m in re.finditer(r"(?:^|[.!?]\s+)(\w+)", claim)}
    return [
        token
        for token in dict.fromkeys(_CHECKABLE.findall(claim))
        if token not in sentence_starts and token.casefold() not in folded
    ]


class GuardedMemory:
    """An `EpisodicMemory` that admits only screened, supported, signed entries."""

    def __init__(
        self,
        memory: EpisodicMemory,
        *,
        screen: Screen | None = None,
        record: Callable[[str, Provenance, str], None] | None = None,
    ) -> None:
        self.memory = memory
        self.screen = screen
        self.record = record
        self.rejected: list[tuple[str, Provenance, str]] = []

    def add(
        self,
        text: str,
        provenance: Provenance,
        signer: PrivateKey,
        *,
        evidence: str | None = None,
    ) -> int:
        """Admit `text` or raise `MemoryRejected` (recorded either way)."""
        reason = self.screen(text) if self.screen else None
        if reason is None and evidence is not None:
            missing = unsupported(text, evidence)
            if missing:
                reason = f"not supported by the result it cites: {', '.join(missing[:5])}"
        if reason is not None:
            self.rejected.append((text, provenance, reason))
            if self.record:
                self.record(text, provenance, reason)
            raise MemoryRejected(provenance.author, reason)
        meta = _meta(text, provenance)
        meta["signer"] = signer.id
        meta["signature"] = signer.sign(_signed_bytes(text, meta)).hex()
        return self.memory.add(text, meta)

    def verified(self, keyring: KeyRing) -> list[tuple[Episode, bool]]:
        """Every entry with whether its provenance signature checks out."""
        checked = []
        for episode in self.memory.all():
            meta = dict(episode.meta)
            signature = meta.pop("signature", None)
            ok = isinstance(signature, str) and keyring.verify(
                str(meta.get("signer")), _signed_bytes(episode.text, meta), bytes.fromhex(signature)
            )
            checked.append((episode, ok))
        return checked

    def trace(self, *, author: str | None = None, task_id: str | None = None) -> list[Episode]:
        """The entries written by `author` and/or for `task_id`."""
        return [e for e in self.memory.all() if _matches(e.meta, author, task_id)]

    def purge(self, *, author: str | None = None, task_id: str | None = None) -> int:
        """Remove every entry from a poisoned source; returns how many."""
        if author is None and task_id is None:
            raise InputError("purge needs an author or a task id: it never empties memory")
        return sum(self.memory.forget(e.id) for e in self.trace(author=author, task_id=task_id))


def _meta(text: str, provenance: Provenance) -> dict[str, Any]:
    return {
        "author": provenance.author,
        "task_id": provenance.task_id,
        "source": provenance.source,
        "at": provenance.at,
    }


def _signed_bytes(text: str, meta: dict[str, Any]) -> bytes:
    fields = {k: v for k, v in meta.items() if k != "signature"}
    return b"lamas.memory.v1\x00" + canonical_json({"text": text, "meta": fields}).encode()


def _matches(meta: dict[str, Any], author: str | None, task_id: str | None) -> bool:
    return (author is None or meta.get("author") == author) and (
        task_id is None or meta.get("task_id") == task_id
    )
