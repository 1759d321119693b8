"""One task as its detail page shows it, read from that task's ledger entries alone.

The plan's DAG comes from `task.opened`, the messages from `message` entries, the votes
from the consensus recorded in `step.done`, the credit from `outcome` and
`credit.allocated`; the alternative credit rules are computed from the same record the
way `lamas credit compare` does (equal split over the game's players, last touch over
the order the agents did their steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lamas.dashboard.index import PRIVACY_WORDS, TRAFFIC_NOTE
from lamas.economy.ledger import Ledger
from lamas.economy.settlement import Component, Game
from lamas.protocol.credit import equal_split, last_touch
from lamas.protocol.ledger import EntryKind, LedgerEntry

PROFILE_SKILL = "profile.get"  # a request to the user's personal agent for profile fields
REDEEM_SKILL = "vault.redeem"  # the same, under a grant: sealed refs redeemed with the vault


@dataclass(frozen=True, slots=True)
class StepRow:
    id: str
    capability: str
    depends_on: tuple[str, ...]
    agent: str | None = None
    entity: str | None = None
    ok: bool | None = None  # None: not done (yet)
    seconds: float = 0.0
    error: str | None = None
    consensus: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MessageRow:
    sequence: int
    sender: str
    recipient: str
    skill: str | None
    kind: str
    mode: str
    priority: int
    sent_at: float
    in_reply_to: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class CreditRow:
    agent: str
    entity: str
    shapley: float
    equal: float
    last_touch: float
    payout: Decimal | None = None


@dataclass(slots=True)
class TaskDetail:
    id: str
    instruction: str = ""
    status: str = "working"
    status_message: str = ""
    opened_at: str = ""
    steps: list[StepRow] = field(default_factory=list)
    messages: list[MessageRow] = field(default_factory=list)
    value: Decimal | None = None
    currency: str = ""
    basis: str = ""
    components: list[dict[str, Any]] = field(default_factory=list)
    credit: list[CreditRow] = field(default_factory=list)
    payouts: dict[str, Decimal] = field(default_factory=dict)
    platform_fee: Decimal | None = None
    privacy: list[LedgerEntry] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)  # each privacy entry as a sentence
    profile_requests: list[MessageRow] = field(default_factory=list)
    entries: int = 0

    @property
    def agents(self) -> list[str]:
        seen: dict[str, None] = {}
        for step in self.steps:
            if step.agent:
                seen.setdefault(step.agent)
        return list(seen)

    def sequence_rows(self) -> list[tuple[str, str, str, str, str, str]]:
        """The sequence diagram's rows: (from, to, label, title, time, kind), requests and
        the replies to them (labelled with their latency), in time order."""
        start = self.messages[0].sent_at if self.messages else 0.0
        rows = []
        for m in self.messages:
            at = (m.sent_at - start) * 1000
            if m.kind == "reply":
                took = f"{m.latency_ms:,.1f} ms" if m.latency_ms is not None else "?"
                label = f"reply · {m.skill or '-'} · {took}"
                title = (
                    f"#{m.sequence} {m.sender} -> {m.recipient}: reply to {m.skill or '-'} "
                    f"after {took} (request {m.in_reply_to or '?'}) at +{at:.1f} ms"
                )
            else:
                label = f"{m.skill or m.kind} · {m.kind} · p{m.priority} · {m.mode}"
                title = (
                    f"#{m.sequence} {m.sender} -> {m.recipient}: {m.skill or '-'} ({m.kind}, "
                    f"{m.mode}, priority {m.priority}) at +{at:.1f} ms"
                )
            rows.append((m.sender, m.recipient, label, title, f"+{at:,.1f} ms", m.kind))
        return rows

    @property
    def consensus_steps(self) -> list[StepRow]:
        return [s for s in self.steps if s.consensus]


def read_task(ledger: Ledger, task_id: str) -> TaskDetail | None:
    """The task's detail from its entries (None if the ledger has none for it)."""
    entries = list(ledger.entries(task_id=task_id))
    if not entries:
        return None
    detail = TaskDetail(task_id, opened_at=_at(entries[0]))
    planned: dict[str, StepRow] = {}
    done: dict[str, StepRow] = {}
    order: list[str] = []  # who did steps, in order: last touch's input
    entity_of: dict[str, str] = {}
    credit: dict[str, Decimal] = {}
    for entry in entries:
        detail.entries += 1
        payload = entry.payload
        kind = entry.kind.value
        if entry.agent and entry.entity:
            entity_of.setdefault(entry.agent, entry.entity)
        if any(word in kind for word in PRIVACY_WORDS):
            detail.privacy.append(entry)
            detail.audit.append(audit_line(entry))
        if entry.kind is EntryKind.TASK_OPENED:
            detail.instruction = str(payload.get("instruction", ""))
            for step in payload.get("steps") or ():
                planned[step["id"]] = StepRow(
                    step["id"], step["capability"], tuple(step.get("depends_on") or ())
                )
        elif entry.kind is EntryKind.STEP_ASSIGNED:
            step_id = str(payload["step_id"])
            planned.setdefault(step_id, StepRow(step_id, str(payload["capability"]), ()))
        elif entry.kind is EntryKind.STEP_DONE and entry.agent:
            step_id = str(payload["step_id"])
            base = planned.get(step_id) or StepRow(step_id, step_id, ())
            done[step_id] = StepRow(
                base.id,
                base.capability,
                base.depends_on,
                agent=entry.agent,
                entity=entry.entity,
                ok=bool(payload.get("ok", True)),
                seconds=float(payload.get("resources", {}).get("seconds", 0.0)),
                error=payload.get("error"),
                consensus=payload.get("consensus"),
            )
            order.append(entry.agent)
        elif entry.kind is EntryKind.MESSAGE:
            row = MessageRow(
                entry.sequence,
                str(payload["sender"]),
                str(payload["recipient"]),
                payload.get("skill"),
                str(payload.get("kind", "request")),
                str(payload.get("mode", "sync")),
                int(payload.get("priority", 0)),
                float(payload.get("sent_at", 0.0)),
                payload.get("in_reply_to"),
                payload.get("latency_ms"),
            )
            detail.messages.append(row)
            if row.skill in (PROFILE_SKILL, REDEEM_SKILL) and row.kind != "reply":
                detail.profile_requests.append(row)
        elif entry.kind is EntryKind.TASK_STATUS:
            detail.status = str(payload.get("state", detail.status))
            detail.status_message = str(payload.get("message", ""))
        elif entry.kind is EntryKind.OUTCOME and not str(payload.get("note", "")).startswith(
            TRAFFIC_NOTE
        ):
            detail.value = Decimal(str(payload["value"]))
            detail.currency = str(payload.get("currency", ""))
            detail.basis = str(payload.get("basis", ""))
            detail.components = list(payload.get("components") or ())
        elif entry.kind is EntryKind.CREDIT_ALLOCATED and entry.agent:
            credit[entry.agent] = credit.get(entry.agent, Decimal(0)) + Decimal(
                str(payload["amount"])
            )
        elif entry.kind is EntryKind.PAYOUT and entry.entity:
            amount = Decimal(str(payload["amount"]))
            detail.payouts[entry.entity] = detail.payouts.get(entry.entity, Decimal(0)) + amount
    detail.steps = [done.get(step_id, step) for step_id, step in planned.items()]
    detail.steps += [step for step_id, step in done.items() if step_id not in planned]
    detail.messages.sort(key=lambda m: (m.sent_at, m.sequence))
    detail.platform_fee = detail.payouts.get("platform")
    detail.credit = _credit(detail, credit, order, entity_of)
    return detail


def audit_line(entry: LedgerEntry) -> str:
    """A vault entry as a sentence a user reads: who, which fields (names only), what for,
    under which grant, and why a read was refused. Empty parts are left out, never shown
    as "None" or an empty "reason:" (the table beside it names the entity)."""
    payload = entry.payload
    who = entry.agent or str(payload.get("by") or "someone")
    fields = [str(f) for f in payload.get("fields") or ()]
    named = ", ".join(fields) if fields else "no field"
    vault = str(payload.get("vault_id") or "the vault")
    verb = {
        EntryKind.VAULT_GRANTED: "was granted",
        EntryKind.VAULT_READ: "read",
        EntryKind.VAULT_REFUSED: "was refused",
    }.get(entry.kind, entry.kind.value)
    line = f"{who} {verb} {named} from {vault}"
    purpose = str(payload.get("purpose") or "").strip()
    if purpose:
        line += f" for {purpose}"
    grant = payload.get("grant_id")
    if grant:
        line += f", under grant {grant}"
    by = payload.get("by")
    if by and by != entry.agent:
        line += f", asked by {by}"
    reason = str(payload.get("reason") or "").strip()
    if reason:
        line += f": {reason}"
    return line + "."


def _at(entry: LedgerEntry) -> str:
    return entry.at.strftime("%Y-%m-%d %H:%M:%S")


def _credit(
    detail: TaskDetail,
    recorded: dict[str, Decimal],
    order: list[str],
    entity_of: dict[str, str],
) -> list[CreditRow]:
    """Shapley (as recorded) beside equal split and last touch over the same players."""
    if detail.value is None:
        return []
    try:
        game = Game(tuple(Component.from_json(c) for c in detail.components))
        players = game.players
    except (KeyError, TypeError, ValueError):
        players = []
    players = players or list(recorded)
    if not players:
        return []
    total = float(sum(recorded.values(), Decimal(0))) or float(detail.value)
    equal = equal_split(players, total)
    touched = [agent for agent in order if agent in players]
    last = last_touch(touched, total) if touched else {}
    return [
        CreditRow(
            agent,
            entity_of.get(agent, ""),
            float(recorded.get(agent, Decimal(0))),
            equal[agent],
            last.get(agent, 0.0),
        )
        for agent in players
    ]
