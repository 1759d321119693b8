"""Ledger entries and the pure rules of their hash chain.

The ledger is the single source of truth for credit, billing and the dashboard:
an append-only sequence of `LedgerEntry`, each naming the hash of the one
before it. An entry's hash is sha256 over the canonical JSON of everything in
it except its own hash and signature, so editing, deleting or reordering any
entry breaks the chain at that entry.

Signatures are per transaction, not per entry. A writer signs the hash of the
LAST entry of each transaction it commits (`append` commits one entry, so each
is signed; `append_many` commits a batch, whose last entry is signed). Since
that hash commits to every entry before it, one Ed25519 signature vouches for
the whole batch: an Ed25519 check costs ~60-180 us in Python, a hash ~2 us, and
verifying a million entries in seconds is only possible this way. The rule a
verifier enforces: every unsigned entry is followed by an entry of the same
signer, and the last entry is signed; so each run of unsigned entries ends in
a signature by the writer that wrote them (a batch is contiguous: the writer
holds the ledger's lock while it appends).

Like any hash chain, dropping whole trailing transactions leaves a valid,
shorter chain; keep a `ChainHead` somewhere else and pass it as `anchor` to
catch that.

Pure: no I/O. Verifying a chain is `protocol/ledger_verify.py` (signature checks go
through a `SignatureVerifier` handed in).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from json.encoder import encode_basestring
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_serializer

from lamas.errors import InputError, LamasError, MalformedMessage
from lamas.protocol._validation import describe
from lamas.protocol.messages import Wire

GENESIS = "0" * 64  # the `prev_hash` of entry 1
SIGNING_DOMAIN = b"lamas.ledger.v1\x00"  # so a ledger signature is never valid for anything else
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: one string per instant, and sortable


class EntryKind(StrEnum):
    TASK_OPENED = "task.opened"
    STEP_ASSIGNED = "step.assigned"
    STEP_DONE = "step.done"
    OUTCOME = "outcome"
    CREDIT_ALLOCATED = "credit.allocated"
    PAYOUT = "payout"
    VAULT_GRANTED = "vault.granted"
    VAULT_READ = "vault.read"
    VAULT_REFUSED = "vault.refused"
    MESSAGE = "message"
    TASK_STATUS = "task.status"
    STEP_COMPENSATED = "step.compensated"


# --- payloads, one model per kind ---------------------------------------------------------


def _not_a_float(value: Any) -> Any:
    # A float has already lost the exact amount (0.1 is 0.1000000000000000055...).
    if isinstance(value, float):
        raise ValueError("give money as a string or Decimal (e.g. '0.10'), not a float")
    return value


Money = Annotated[Decimal, BeforeValidator(_not_a_float), Field(ge=0, allow_inf_nan=False)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class ValueBasis(StrEnum):
    """How an outcome's business value was earned (paper §3.2-3.3)."""

    CPC = "cpc"  # per click
    CPA = "cpa"  # per conversion (a booking, a purchase)
    CPM = "cpm"  # per thousand impressions
    SUBSCRIPTION = "subscription"
    FLAT_FEE = "flat_fee"


class PlannedStep(Wire):
    """One step of a task's plan, as recorded: the plan's DAG is the steps and their edges."""

    id: Name
    capability: Name
    depends_on: tuple[Name, ...] = ()


class TaskOpened(Wire):
    instruction: str = ""
    requester: Name | None = None
    steps: tuple[PlannedStep, ...] = Field(default=(), description="the plan, as a DAG")


class StepAssigned(Wire):
    step_id: Name
    capability: Name


class Resources(Wire):
    """What one step consumed."""

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    tool_calls: int = Field(default=0, ge=0)
    seconds: float = Field(default=0.0, ge=0, allow_inf_nan=False)


class RecordedBallot(Wire):
    voter: Name
    choice: str | None = None
    ranking: tuple[str, ...] = ()


class ConsensusRecord(Wire):
    """How competing offers for a step were settled: the rule, each round's ballots, the result."""

    rule: Name
    winner: str | None = None
    support: float = Field(ge=0, allow_inf_nan=False)
    threshold: float = Field(ge=0, allow_inf_nan=False)
    reached: bool
    fallback: bool = False
    tally: dict[str, float] = Field(default_factory=dict)
    rounds: tuple[tuple[RecordedBallot, ...], ...] = Field(
        default=(), description="the ballots of each round, first round first"
    )
    notes: tuple[str, ...] = ()


class StepDone(Wire):
    step_id: Name
    resources: Resources = Resources()
    ok: bool = True
    error: str | None = None
    consensus: ConsensusRecord | None = None


class MessageSent(Wire):
    """One envelope a transport accepted on a task's behalf: its routing facts, never its body."""

    id: Name
    sender: Name
    recipient: Name
    skill: str | None = None
    kind: Name = "request"
    mode: Name = "sync"
    priority: int = Field(default=0, ge=0, le=9)
    sent_at: float = Field(ge=0, allow_inf_nan=False, description="seconds since the epoch")
    in_reply_to: Name | None = Field(default=None, description="a reply: the request's id")
    latency_ms: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="a reply: since the request was sent"
    )


class StepCompensated(Wire):
    """A booking of a task that could not complete was undone (or kept, at the user's word).
    Undone work is never paid: a failed task is not settled."""

    step_id: Name
    skill: Name = Field(description="the compensating skill asked, e.g. ticket.cancel")
    key: str = Field(max_length=300, description="the booking's idempotency key")
    booking_id: str | None = None
    outcome: Literal["compensated", "kept", "pending", "nothing"] = "compensated"
    detail: str = ""


class TaskStatus(Wire):
    """A task changed state (A2A states: working, input-required, completed, failed, ...)."""

    state: Name
    message: str = ""


class Outcome(Wire):
    """The business value a task produced, exact to the last digit."""

    value: Money
    currency: Currency
    basis: ValueBasis
    units: int | None = Field(default=None, ge=0, description="clicks, conversions, impressions")
    note: str = ""
    components: tuple[dict[str, Any], ...] = Field(
        default=(),
        description="the value as a game: each part's label, value, and the agents it needed",
    )


class CreditAllocated(Wire):
    """One party's share of a task's value."""

    amount: Money
    currency: Currency
    rule: Name = "shapley"
    outcome: int | None = Field(default=None, ge=1, description="sequence of the outcome entry")


class Payout(Wire):
    amount: Money
    currency: Currency
    reference: str = ""


class DataAccess(Wire):
    """Who was let read which user-vault fields (or refused), for what: names, never values."""

    vault_id: Name
    fields: tuple[Name, ...] = ()
    purpose: str = ""
    grant_id: str | None = None
    by: Name | None = Field(default=None, description="who asked for the grant or the read")
    reason: str = Field(default="", description="why a read was refused")


PAYLOADS: dict[EntryKind, type[Wire]] = {
    EntryKind.TASK_OPENED: TaskOpened,
    EntryKind.STEP_ASSIGNED: StepAssigned,
    EntryKind.STEP_DONE: StepDone,
    EntryKind.OUTCOME: Outcome,
    EntryKind.CREDIT_ALLOCATED: CreditAllocated,
    EntryKind.PAYOUT: Payout,
    EntryKind.VAULT_GRANTED: DataAccess,
    EntryKind.VAULT_READ: DataAccess,
    EntryKind.VAULT_REFUSED: DataAccess,
    EntryKind.MESSAGE: MessageSent,
    EntryKind.TASK_STATUS: TaskStatus,
    EntryKind.STEP_COMPENSATED: StepCompensated,
}

# Who an entry is about, where the kind needs one: "agent", "entity", or "agent or entity".
PARTIES: dict[EntryKind, str] = {
    EntryKind.STEP_ASSIGNED: "agent",
    EntryKind.STEP_DONE: "agent",
    EntryKind.STEP_COMPENSATED: "agent",
    EntryKind.CREDIT_ALLOCATED: "agent or entity",
    EntryKind.PAYOUT: "entity",
    EntryKind.VAULT_GRANTED: "agent",
    EntryKind.VAULT_READ: "agent",
    EntryKind.VAULT_REFUSED: "agent",
}


# One encoder for every call: `json.dumps` with options builds a new one each time, which
# was a tenth of an append's cost.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """The one JSON text of `value`: sorted keys, no spaces, UTF-8 as is, no NaN."""
    return _CANONICAL.encode(value)


class Draft(NamedTuple):
    """A would-be entry, checked: everything but its place in the chain."""

    kind: EntryKind
    task_id: str
    agent: str | None
    entity: str | None
    payload: dict[str, Any]  # the JSON form (money as decimal strings)
    payload_json: str  # its canonical text: what is stored and hashed


def draft(
    kind: EntryKind | str,
    task_id: str,
    agent: str | None,
    entity: str | None,
    payload: BaseModel | Mapping[str, Any] | None,
) -> Draft:
    """Check a would-be entry against its kind's rules and payload model.

    Raises `MalformedMessage` naming every problem; nothing is written for bad input.
    """
    what = f"ledger entry {str(kind)!r}"
    try:
        kind = EntryKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in EntryKind)
        raise MalformedMessage(what, [f"kind: unknown kind (known: {known})"]) from None
    problems = []
    for field, value in (("task_id", task_id), ("agent", agent), ("entity", entity)):
        if value is None and field != "task_id":
            continue
        if not isinstance(value, str) or not 1 <= len(value) <= 128:
            problems.append(f"{field}: must be a string of 1 to 128 characters")
    needs = PARTIES.get(kind)
    if (needs == "agent" and agent is None) or (needs == "entity" and entity is None):
        problems.append(f"{needs}: a {kind} entry must name its {needs}")
    if needs == "agent or entity" and agent is None and entity is None:
        problems.append(f"agent: a {kind} entry must name an agent or an entity")
    model = PAYLOADS[kind]
    body: BaseModel | None = None
    if isinstance(payload, model):
        body = payload
    elif isinstance(payload, BaseModel):
        problems.append(
            f"payload: a {kind} entry takes {model.__name__}, not {type(payload).__name__}"
        )
    elif payload is not None and not isinstance(payload, Mapping):
        problems.append(f"payload: expected a JSON object, got {type(payload).__name__}")
    else:
        try:
            body = model.model_validate(dict(payload) if payload is not None else {})
        except ValidationError as error:
            problems.extend(f"payload.{p}" for p in describe(error))
    if problems or body is None:
        raise MalformedMessage(what, problems)
    data = body.model_dump(mode="json")
    return Draft(kind, task_id, agent, entity, data, canonical_json(data))


# --- the entry and its hash ----------------------------------------------------------------


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime(TIME_FORMAT)


def content_bytes(
    sequence: int,
    kind: str,
    task_id: str,
    agent: str | None,
    entity: str | None,
    payload_json: str,
    at: str,
    signer: str,
    prev_hash: str,
) -> bytes:
    """The canonical JSON of an entry without its hash and signature: what its hash is over.

    Equal to `canonical_json` of the fields as a dict (a test holds it to that); built by
    hand because verification runs it a million times, and `payload_json` goes in verbatim
    so that any edit of the stored payload text shows.
    """
    return quoted_content(
        sequence,
        _text(kind),
        _text(task_id),
        _text(agent),
        _text(entity),
        payload_json,
        _text(at),
        _text(signer),
        _text(prev_hash),
    )


def quoted_content(
    sequence: int,
    kind: str,
    task_id: str,
    agent: str,
    entity: str,
    payload_json: str,
    at: str,
    signer: str,
    prev_hash: str,
) -> bytes:
    """`content_bytes` from fields already written as JSON literals (`Quoted`): the one
    place the layout of the hashed bytes is written down."""
    return (
        f'{{"agent":{agent},"at":{at},"entity":{entity},"kind":{kind},'
        f'"payload":{payload_json},"prev_hash":{prev_hash},"sequence":{sequence:d},'
        f'"signer":{signer},"task_id":{task_id}}}'
    ).encode()


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


class Quoted(dict[str | None, str]):
    """JSON literals of the texts seen so far (`quoted[None] == "null"`).

    An entry's kind, signer, agent, entity and time (one per transaction) repeat across
    entries: looking their literal up instead of escaping each anew saves a fifth of a
    verification. Forgets everything past `limit` texts, so memory stays bounded.
    """

    def __init__(self, limit: int = 100_000) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, key: str | None) -> str:
        if len(self) >= self.limit:
            self.clear()
        literal = self[key] = _text(key)
        return literal


def entry_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def signing_message(hash_hex: str) -> bytes:
    """The bytes a writer signs for an entry: a domain tag and the entry's 32-byte hash."""
    return SIGNING_DOMAIN + bytes.fromhex(hash_hex)


# The order of an entry's fields as a plain tuple (`LedgerEntry.raw`); stores read rows in it.
RAW_FIELDS = (
    "sequence",
    "kind",
    "task_id",
    "agent",
    "entity",
    "payload",
    "at",
    "signer",
    "prev_hash",
    "hash",
    "signature",
)
Raw = tuple[int, str, str, str | None, str | None, str, str, str, str, str, str | None]


class LedgerEntry(Wire):
    """One record of the ledger: what happened, to which task, who wrote it, and its chain links."""

    sequence: int = Field(ge=1)
    kind: EntryKind
    task_id: str
    agent: str | None = None
    entity: str | None = None
    payload: dict[str, Any]
    at: datetime
    signer: str = Field(description="id of the writer's Ed25519 key")
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: str | None = Field(
        default=None,
        description="hex Ed25519 signature over the hash; on a transaction's last entry",
    )

    @field_serializer("at")
    def _fixed_time(self, at: datetime) -> str:
        return format_time(at)

    def content(self) -> bytes:
        """The canonical bytes this entry's hash is over."""
        return content_bytes(*self.raw()[:9])

    def body(self) -> Wire:
        """The payload as its kind's model (`Outcome`, `StepDone`, ...)."""
        try:
            return PAYLOADS[self.kind].model_validate(self.payload)
        except ValidationError as error:
            problems = "; ".join(describe(error))
            raise LedgerCorrupted(
                ChainProblem(self.sequence, f"payload is not a valid {self.kind}: {problems}")
            ) from None

    def raw(self) -> Raw:
        return (
            self.sequence,
            self.kind.value,
            self.task_id,
            self.agent,
            self.entity,
            canonical_json(self.payload),
            format_time(self.at),
            self.signer,
            self.prev_hash,
            self.hash,
            self.signature,
        )

    @classmethod
    def from_raw(cls, raw: Raw) -> LedgerEntry:
        """An entry from stored fields (their shape is checked; `verify` checks the chain)."""
        seq, kind, task_id, agent, entity, payload, at, signer, prev, digest, signature = raw
        try:
            return cls(
                sequence=seq,
                kind=kind,
                task_id=task_id,
                agent=agent,
                entity=entity,
                payload=json.loads(payload),
                at=at,
                signer=signer,
                prev_hash=prev,
                hash=digest,
                signature=signature,
            )
        except (ValidationError, ValueError) as error:
            raise LedgerCorrupted(
                ChainProblem(seq, f"stored row is not an entry: {error}")
            ) from None


# --- what can go wrong ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainProblem:
    sequence: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.sequence}: {self.reason}"


class LedgerCorrupted(LamasError):
    """The stored ledger is not the chain its writers wrote."""

    def __init__(self, problem: ChainProblem) -> None:
        self.sequence = problem.sequence
        self.reason = problem.reason
        super().__init__(
            f"ledger corrupted at {problem}; restore it from a backup "
            "(`lamas ledger verify` names the first bad entry)"
        )


class LedgerInputError(InputError):
    """A ledger was asked for something it cannot do (e.g. append without a signing key)."""
