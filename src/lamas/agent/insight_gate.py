"""The insight pool's admission gate: memory-poisoning control for shared experience.

An insight offered to the shared pool (`lamas.experience.insights`) is screened by the
same `GuardedMemory` that guards each agent's long-term memory: refused (and recorded)
if the injection screen flags it, and written with signed provenance (author, source
task) if not, so a poisoned entry that got in anyway can be traced and purged by source.
"""

from __future__ import annotations

from lamas.agent.admission import GuardedMemory, MemoryRejected, Provenance
from lamas.security.identity import PrivateKey

POOL_MEMORY = "shared-insights"
"""The `agent_id` under which the pool's guarded entries are kept."""


class GuardedInsightGate:
    def __init__(self, memory: GuardedMemory, signer: PrivateKey) -> None:
        self.memory = memory
        self.signer = signer

    def check(self, text: str, *, author: str, task_id: str) -> None:
        reason = self.memory.screen(text) if self.memory.screen else None
        if reason is not None:
            provenance = Provenance(author, task_id, source="insight")
            self.memory.rejected.append((text, provenance, reason))
            if self.memory.record:
                self.memory.record(text, provenance, reason)
            raise MemoryRejected(author, reason)

    def write(self, text: str, *, author: str, task_id: str) -> int:
        return self.memory.add(text, Provenance(author, task_id, source="insight"), self.signer)

    def forget(self, memory_id: int) -> None:
        self.memory.memory.forget(memory_id)


def detector_screen(text: str) -> str | None:
    """The default screen: the injection detector's rule layer."""
    from lamas.security.detector import Detector

    detection = Detector().score(text)
    return "; ".join(detection.reasons) if detection.flagged else None
