"""The dashboard's read model: the ledger folded into per-task, per-agent and per-entity figures.

Pages must render in well under a second on a ledger of 100,000 entries, so nothing is
re-read per request: the index reads the ledger once, then only the entries appended
since (`refresh`, one indexed query when nothing is new). It reads raw rows (no
pydantic per entry) and verifies the chain as it goes, with the same `ChainVerifier`
that `Ledger.verify` uses, so the verification status costs nothing extra per page.

A task's details (its plan, messages, votes) are not kept here: `taskview` reads one
task's entries by the ledger's task index when its page is asked for.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from lamas.economy.ledger import Ledger
from lamas.protocol.ledger import RAW_FIELDS, Raw
from lamas.protocol.ledger_verify import ChainVerifier, VerifyReport
from lamas.security.identity import KeyRing
from lamas.store.ledger_tables import ledger_entries

TRAFFIC_NOTE = "traffic: "  # how traffic outcomes are marked (economy.attribution.NOTE)
PRIVACY_WORDS = ("vault", "grant", "redeem")
"""Entry kinds with one of these words are vault reads or grants: the privacy audit."""

_COLUMNS = [ledger_entries.c[name] for name in RAW_FIELDS]
_SEQ = ledger_entries.c.sequence
_BATCH = 20_000


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


@dataclass(slots=True)
class TaskSummary:
    """One row of the Tasks page."""

    id: str
    first: int  # sequence of its first entry
    last: int = 0  # sequence of its latest entry
    opened_at: str = ""
    updated_at: str = ""
    instruction: str = ""
    status: str = "working"
    note: str = ""  # the last status message (why it failed, what it asks)
    agents: dict[str, None] = field(default_factory=dict)  # in order of first appearance
    steps_total: int = 0
    steps_done: int = 0
    steps_failed: int = 0
    messages: int = 0
    value: Decimal = Decimal(0)
    currency: str = ""
    traffic: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "instruction": self.instruction,
            "status": self.status,
            "note": self.note,
            "agents": list(self.agents),
            "steps_total": self.steps_total,
            "steps_done": self.steps_done,
            "steps_failed": self.steps_failed,
            "messages": self.messages,
            "value": str(self.value),
            "currency": self.currency,
        }


@dataclass(slots=True)
class AgentStats:
    """What the ledger says one agent did and earned."""

    id: str
    entity: str | None = None
    steps: int = 0
    failed: int = 0
    received: int = 0  # envelopes addressed to it: its load
    sent: int = 0
    credit: Decimal = Decimal(0)  # its Shapley shares of task values (docs/money.md)
    traffic_credit: Decimal = Decimal(0)  # its shares of traffic conversion fees
    tasks: dict[str, None] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        return (self.steps - self.failed) / self.steps if self.steps else None


class _RecordedKeys:
    """The writers' keys recorded in the database, re-read when an unknown writer shows up
    (a writer that started after the dashboard registers its key with its first entry)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.ring: KeyRing = ledger.recorded_keys()

    def knows(self, signer: str) -> bool:
        if not self.ring.knows(signer):
            self.ring = self.ledger.recorded_keys()
        return self.ring.knows(signer)

    def verify(self, signer: str, message: bytes, signature: bytes) -> bool:
        return self.ring.verify(signer, message, signature)


class LedgerIndex:
    """Everything the list pages show, kept up to date by reading only new entries."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.last = 0  # the last sequence read
        self.tasks: dict[str, TaskSummary] = {}
        self.agents: dict[str, AgentStats] = {}
        # entity -> hour -> amount paid out; hour -> value of outcomes (revenue); an hour is
        # "YYYY-MM-DDTHH" (pages sum hours into days when the ledger spans several days)
        self.payouts: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        self.revenue: dict[str, Decimal] = defaultdict(Decimal)
        self.currencies: set[str] = set()
        self.kinds: dict[str, int] = defaultdict(int)
        self.edges: dict[tuple[str, str], int] = defaultdict(int)  # messages per (from, to)
        self.traffic_outcomes = 0
        self.traffic_version = 0  # grows with every traffic entry: the report's cache key
        self.privacy_entries = 0
        self._private: dict[str, bool] = {}
        self.verifier = ChainVerifier(_RecordedKeys(ledger))
        self.verified_at: datetime | None = None
        self.full: VerifyReport | None = None  # the last full re-check, if one was asked for
        self._lock = threading.Lock()

    # --- reading ------------------------------------------------------------------------

    def refresh(self) -> int:
        """Read the entries appended since the last call; returns how many were new."""
        with self._lock:
            new = 0
            while True:
                query = select(*_COLUMNS).where(self.last < _SEQ).order_by(_SEQ).limit(_BATCH)
                with self.ledger.engine.connect() as conn:
                    rows: list[Raw] = [tuple(row) for row in conn.execute(query)]
                if not rows:
                    break
                self.verifier.feed(rows)
                for row in rows:
                    self._fold(row)
                self.last = rows[-1][0]
                new += len(rows)
                if len(rows) < _BATCH:
                    break
            if new:
                self.verified_at = datetime.now().astimezone()
            return new

    def verification(self) -> VerifyReport:
        """The chain's status: the last full check if it found a problem, else the running
        check over every entry read so far (each entry is checked once, as it is read)."""
        with self._lock:
            if self.full is not None and not self.full.ok:
                return self.full
            return self.verifier.report()

    def reverify(self) -> VerifyReport:
        """Check the whole chain again from its first entry (catches edits of old rows,
        which the running check has already passed)."""
        report = self.ledger.verify()
        with self._lock:
            self.full = report
            self.verified_at = datetime.now().astimezone()
        return report

    # --- folding one entry in -----------------------------------------------------------

    def _agent(self, agent: str, entity: str | None) -> AgentStats:
        stats = self.agents.get(agent)
        if stats is None:
            stats = self.agents[agent] = AgentStats(agent, entity)
        elif entity and not stats.entity:
            stats.entity = entity
        return stats

    def _task(self, task_id: str, sequence: int, at: str) -> TaskSummary:
        task = self.tasks.get(task_id)
        if task is None:
            task = self.tasks[task_id] = TaskSummary(task_id, sequence, opened_at=at)
        task.updated_at = at
        task.last = sequence
        return task

    def _fold(self, row: Raw) -> None:
        sequence, kind, task_id, agent, entity, payload_text, at = row[:7]
        self.kinds[kind] += 1
        try:
            payload: dict[str, Any] = json.loads(payload_text)
        except ValueError:
            return  # verification names the broken entry
        private = self._private.get(kind)
        if private is None:
            private = self._private[kind] = any(word in kind for word in PRIVACY_WORDS)
        if private:
            self.privacy_entries += 1
        if kind == "message":
            task = self._task(task_id, sequence, at)
            task.messages += 1
            sender, recipient = payload.get("sender"), payload.get("recipient")
            # A reply is traffic on its edge, not load: the load is the requests received.
            counted = payload.get("kind") != "reply"
            if isinstance(sender, str) and counted:
                self._agent(sender, entity).sent += 1
            if isinstance(recipient, str) and counted:
                self._agent(recipient, None).received += 1
            if isinstance(sender, str) and isinstance(recipient, str):
                self.edges[(sender, recipient)] += 1
            return
        if kind == "outcome" and str(payload.get("note", "")).startswith(TRAFFIC_NOTE):
            # Traffic (impressions, clicks, conversions) is not a task: the Economy page.
            self.traffic_outcomes += 1
            self.traffic_version += 1
            self._revenue(at, payload)
            return
        if kind == "credit.allocated" and "/" in task_id and task_id not in self.tasks:
            # A traffic conversion's credit: kept apart from task credit, and no task row.
            self.traffic_version += 1
            if agent:
                self._agent(agent, entity).traffic_credit += _money(payload.get("amount"))
            return
        task = self._task(task_id, sequence, at)
        if kind == "task.opened":
            task.instruction = str(payload.get("instruction", ""))
            task.steps_total = len(payload.get("steps") or ()) or task.steps_total
            task.traffic = task.instruction.startswith(TRAFFIC_NOTE)
            if agent:
                task.agents.setdefault(agent)
        elif kind == "step.done" and agent:
            stats = self._agent(agent, entity)
            stats.steps += 1
            stats.tasks.setdefault(task_id)
            task.agents.setdefault(agent)
            task.steps_done += 1
            if not payload.get("ok", True):
                stats.failed += 1
                task.steps_failed += 1
        elif kind == "task.status":
            task.status = str(payload.get("state", task.status))
            task.note = str(payload.get("message", ""))[:200]
        elif kind == "outcome":
            task.value += _money(payload.get("value"))
            task.currency = str(payload.get("currency", ""))
            self._revenue(at, payload)
        elif kind == "credit.allocated" and agent:
            stats = self._agent(agent, entity)
            stats.credit += _money(payload.get("amount"))
            stats.tasks.setdefault(task_id)
        elif kind == "payout" and entity:
            self.payouts[entity][at[:13]] += _money(payload.get("amount"))
            self.currencies.add(str(payload.get("currency", "")))

    def _revenue(self, at: str, payload: dict[str, Any]) -> None:
        self.revenue[at[:13]] += _money(payload.get("value"))
        self.currencies.add(str(payload.get("currency", "")))

    # --- queries ------------------------------------------------------------------------

    def task_list(
        self,
        *,
        query: str = "",
        status: str = "",
        agent: str = "",
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[TaskSummary], int]:
        """Tasks newest first, filtered; the page asked for and how many matched."""
        with self._lock:
            tasks = [t for t in self.tasks.values() if not t.traffic]
        words = query.lower().split()
        matched = []
        for task in reversed(tasks):
            if status and task.status != status:
                continue
            if agent and agent not in task.agents:
                continue
            if words:
                text = f"{task.id} {task.instruction} {' '.join(task.agents)}".lower()
                if not all(word in text for word in words):
                    continue
            matched.append(task)
        return matched[offset : offset + limit], len(matched)

    def statuses(self) -> list[str]:
        with self._lock:
            return sorted({t.status for t in self.tasks.values()})

    def changed_since(self, sequence: int) -> list[TaskSummary]:
        """Tasks with an entry after `sequence`, oldest change first (what Live pushes)."""
        with self._lock:
            changed = [t for t in self.tasks.values() if t.last > sequence and not t.traffic]
        return sorted(changed, key=lambda t: t.last)
