"""Recovery: what keeps tasks ending right when agents die, processes restart or load
spikes (retries, live-only choices, idempotency keys, compensation, durable task state,
admission control). `Recovery` wires the policies into the orchestrator; each policy is
a module of its own."""

from lamas.runtime.recovery.admission import Admission, Busy, Lanes
from lamas.runtime.recovery.durable import TaskStore
from lamas.runtime.recovery.idempotency import (
    IDEMPOTENCY_KEY,
    AlreadyCancelled,
    IdempotencyConflict,
    IdempotentResults,
    idempotency_key,
    key_of,
)
from lamas.runtime.recovery.layer import Recovery
from lamas.runtime.recovery.liveness import Liveness
from lamas.runtime.recovery.retry import Backoff, RetryPolicy, is_transient

__all__ = [
    "IDEMPOTENCY_KEY",
    "Admission",
    "AlreadyCancelled",
    "Backoff",
    "Busy",
    "IdempotencyConflict",
    "IdempotentResults",
    "Lanes",
    "Liveness",
    "Recovery",
    "RetryPolicy",
    "TaskStore",
    "idempotency_key",
    "is_transient",
    "key_of",
]
