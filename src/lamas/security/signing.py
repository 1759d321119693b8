"""Agent identity on the wire: signed envelopes, replay protection and signed agent cards.

Every agent has an Ed25519 key that signs what it sends; every entity has a key that
signs its agents' cards (A2A card signatures). A `Directory` says who is who: which
entity each agent belongs to, and which agent or entity each public key speaks for.

An envelope is signed over a canonical JSON form of everything but its `signature`,
prefixed by a domain tag so that an envelope signature is never valid as a card or
ledger signature. The signature text is `<key id>:<hex Ed25519 signature>`.

`verify_signatures` is the receiving side, as middleware: an envelope whose sender
belongs to another entity than the receiving agent must carry a valid signature by the
sender's own key, be addressed to this agent (or to a topic), and not be a replay
(`ReplayGuard`: a fresh `sent_at` and an id not seen before). A rejected envelope is
recorded and its error raised; the inner handler never runs. Within one entity an
unsigned envelope passes: one entity is one trust domain. That exemption trusts the
`sender` field, so it is sound only where the transport itself authenticates the link
(in one process, or mTLS inside the entity); pass `trust_same_entity=False` to require
a signature on everything. A signature that is present is always checked.

`sign_outgoing` is the sending side: it hands the inner handler a `SigningContext`,
so that everything the agent sends through its context is signed with its key.
Put `verify_signatures` outermost in a stack, so later middleware (rate limits,
metering) keys on a sender that has been proved.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from lamas.errors import ConfigError, DeliveryError, InputError
from lamas.protocol.cards import AgentCard
from lamas.protocol.ledger import canonical_json
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Handler, Middleware, Reply
from lamas.security.identity import KeyRing, PrivateKey, PublicKey

log = logging.getLogger(__name__)

ENVELOPE_DOMAIN = b"lamas.envelope.v1\x00"  # so an envelope signature is valid for nothing else
CARD_DOMAIN = b"lamas.card.v1\x00"
SIGNATURE_HEX_DIGITS = 128  # an Ed25519 signature is 64 bytes

Record = Callable[[Envelope, Exception], None]
"""Told of every rejected envelope with the error it was rejected with (audit logs, alerts)."""


# --- errors -------------------------------------------------------------------------------


class EnvelopeRejected(DeliveryError):
    """An envelope was refused on receipt and not delivered; `reason` says why."""

    what = "rejected"
    advice = ""

    def __init__(self, envelope: Envelope, reason: str) -> None:
        self.envelope_id = envelope.id
        self.sender = envelope.sender
        self.recipient = envelope.recipient
        self.reason = reason
        advice = f"; {self.advice}" if self.advice else ""
        super().__init__(
            f"{self.what} envelope {envelope.id} from {envelope.sender!r} "
            f"to {envelope.recipient!r}: {reason}{advice}"
        )


class ForgedEnvelope(EnvelopeRejected):
    """The envelope's signature does not prove that its sender sent it."""

    what = "forged"
    advice = "an envelope must be signed with its sender's own registered key"


class UnsignedEnvelope(ForgedEnvelope):
    """An envelope that must be signed (it crosses an entity boundary) carries no signature."""

    what = "unsigned"
    advice = "sign it with the sender's key (`sign_envelope`, or `sign_outgoing` middleware)"


class TamperedEnvelope(EnvelopeRejected):
    """The signature names the sender's key but does not match the envelope's content."""

    what = "tampered"
    advice = "it was altered after signing, or the signature was not made with that key"


class MisdirectedEnvelope(EnvelopeRejected):
    """A signed envelope addressed to one agent was delivered to another."""

    what = "misdirected"
    advice = "a signature binds the recipient; the sender must sign a new envelope for this one"


class ReplayedEnvelope(EnvelopeRejected):
    """An envelope already delivered was delivered again."""

    what = "replayed"
    advice = "each envelope is delivered once; the sender must send a new one (a new id)"


class StaleEnvelope(ReplayedEnvelope):
    """An envelope's `sent_at` lies outside the replay window, so it could be an old replay."""

    what = "stale"
    advice = "send a fresh envelope, and check that the sender's clock is right"


class ForgedCard(InputError):
    """An agent card's signature is missing, by a key not its entity's, or does not match."""

    def __init__(self, card: AgentCard, reason: str) -> None:
        self.card_id = card.id
        self.entity = card.entity
        self.reason = reason
        super().__init__(
            f"agent card {card.id!r} (entity {card.entity!r}) is not vouched for by its entity: "
            f"{reason}; the entity must sign the card with its registered key (`sign_card`)"
        )


# --- who is who ---------------------------------------------------------------------------


class Directory:
    """Who is who across entities: each agent's entity, and whom each public key speaks for.

    A key speaks for exactly one agent or one entity. An agent may have several keys (a
    rotation); an entity's key signs its cards, an agent's key signs its envelopes.
    """

    def __init__(self) -> None:
        self.keyring = KeyRing()
        self._entity_of: dict[str, str] = {}
        self._agent_of_key: dict[str, str] = {}
        self._entity_of_key: dict[str, str] = {}

    def add_entity(self, entity: str, key: PublicKey | PrivateKey) -> str:
        """Trust `key` as `entity`'s card-signing key; returns the key id."""
        if not entity:
            raise ConfigError("an entity needs a non-empty name")
        public = _public(key)
        self._claim(public, f"entity {entity!r}", self._entity_of_key.get(public.id) == entity)
        self._entity_of_key[public.id] = entity
        return self.keyring.add(public)

    def add_agent(self, agent_id: str, entity: str, key: PublicKey | PrivateKey) -> str:
        """Trust `key` as the envelope-signing key of `agent_id`, which `entity` owns."""
        known = self._entity_of.get(agent_id)
        if known is not None and known != entity:
            raise ConfigError(
                f"agent {agent_id!r} belongs to entity {known!r}, not {entity!r}; "
                "an agent has one owner"
            )
        public = _public(key)
        self._claim(public, f"agent {agent_id!r}", self._agent_of_key.get(public.id) == agent_id)
        self._entity_of[agent_id] = entity
        self._agent_of_key[public.id] = agent_id
        return self.keyring.add(public)

    def admit(self, card: AgentCard, key: PublicKey | PrivateKey) -> str:
        """Add the agent of `card` with `key`, once the card's signature by its entity checks."""
        verify_card(card, self.keyring, owner_of=self.entity_of_key)
        return self.add_agent(card.id, card.entity, key)

    def entity_of(self, agent_id: str) -> str | None:
        return self._entity_of.get(agent_id)

    def agent_of_key(self, key_id: str) -> str | None:
        """The agent whose envelopes `key_id` signs (None for an entity's key or a stranger)."""
        return self._agent_of_key.get(key_id)

    def entity_of_key(self, key_id: str) -> str | None:
        """The entity whose cards `key_id` signs (None for an agent's key or a stranger)."""
        return self._entity_of_key.get(key_id)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._entity_of

    def __iter__(self) -> Iterator[str]:
        return iter(self._entity_of)

    def __len__(self) -> int:
        return len(self._entity_of)

    def __repr__(self) -> str:
        return f"Directory({len(self._entity_of)} agents, {len(self._entity_of_key)} entity keys)"

    def _claim(self, key: PublicKey, who: str, already_theirs: bool) -> None:
        if already_theirs or key.id not in self.keyring:
            return
        holder = self._agent_of_key.get(key.id)
        current = f"agent {holder!r}" if holder else f"entity {self._entity_of_key[key.id]!r}"
        raise ConfigError(
            f"key {key.id} already speaks for {current}; {who} needs a key of its own"
        )


def _public(key: PublicKey | PrivateKey) -> PublicKey:
    return key.public if isinstance(key, PrivateKey) else key


# --- envelopes ----------------------------------------------------------------------------


def canonical_envelope_bytes(envelope: Envelope) -> bytes:
    """What an envelope's signature is over: a domain tag, then the canonical JSON of every
    field but `signature` (sorted keys, no spaces, UTF-8)."""
    return ENVELOPE_DOMAIN + _canonical(envelope.model_dump(mode="json", exclude={"signature"}))


def sign_envelope(envelope: Envelope, key: PrivateKey) -> Envelope:
    """A copy of `envelope` signed with `key` (any earlier signature is replaced)."""
    signature = key.sign(canonical_envelope_bytes(envelope))
    return envelope.model_copy(update={"signature": f"{key.id}:{signature.hex()}"})


def verify_envelope(
    envelope: Envelope, keyring: KeyRing, *, owner_of: Callable[[str], str | None]
) -> None:
    """Check that `envelope` is signed by its sender's own key, and unaltered since.

    `owner_of` maps a key id to the agent it speaks for (`Directory.agent_of_key`).
    Raises `UnsignedEnvelope` or `ForgedEnvelope` (no proof that the sender sent it) or
    `TamperedEnvelope` (the sender's key, but not this content).
    """
    if envelope.signature is None:
        raise UnsignedEnvelope(envelope, "it carries no signature")
    parsed = _split(envelope.signature)
    if parsed is None:
        raise ForgedEnvelope(envelope, "its signature is not '<key id>:<128 hex digits>'")
    key_id, signature = parsed
    key = keyring.get(key_id)
    if key is None:
        raise ForgedEnvelope(envelope, f"it is signed with key {key_id}, which no one trusts")
    owner = owner_of(key_id)
    if owner != envelope.sender:
        whose = f"agent {owner!r}'s" if owner else "a key bound to no agent"
        raise ForgedEnvelope(
            envelope,
            f"it is signed with {whose} key {key_id}, not with a key of {envelope.sender!r}",
        )
    if not key.verify(canonical_envelope_bytes(envelope), signature):
        raise TamperedEnvelope(
            envelope, f"the signature by {envelope.sender!r}'s key {key_id} does not match it"
        )


class ReplayGuard:
    """Refuses an envelope seen before, or sent too long ago to tell (a possible replay).

    An envelope passes once: its `sent_at` must lie within `window_seconds` in the past
    (or `max_skew_seconds` in the future, for clocks that differ), and its id must not have
    been delivered to the same receiver from the same sender before. Ids are remembered
    until they leave the window, at most `max_ids` of them; when that many are in the
    window, the oldest is forgotten and nothing sent at or before it is accepted any more,
    so a replay is never let through for lack of memory. Check signatures first: only an
    authentic envelope should take a place in memory.
    """

    def __init__(
        self,
        window_seconds: float = 300.0,
        *,
        max_skew_seconds: float = 30.0,
        max_ids: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not window_seconds > 0 or not math.isfinite(window_seconds):
            raise ValueError(f"window_seconds must be positive, got {window_seconds}")
        if not max_skew_seconds >= 0 or not math.isfinite(max_skew_seconds):
            raise ValueError(f"max_skew_seconds must be 0 or more, got {max_skew_seconds}")
        if max_ids < 1:
            raise ValueError(f"max_ids must be at least 1, got {max_ids}")
        self.window_seconds = window_seconds
        self.max_skew_seconds = max_skew_seconds
        self.max_ids = max_ids
        self._clock = clock
        self._seen: set[bytes] = set()
        self._by_age: list[tuple[float, bytes]] = []  # a heap, oldest sent_at first
        self._floor = -math.inf  # at or before this, ids may have been forgotten early

    def check(self, envelope: Envelope, *, receiver: str | None = None) -> None:
        """Accept `envelope` once (remembering it), or raise `StaleEnvelope`/`ReplayedEnvelope`.

        `receiver` is the agent it is delivered to (default: its recipient), so that one
        envelope published to a topic reaches each subscriber once.
        """
        now = self._clock()
        self._forget(now - self.window_seconds)
        sent = envelope.sent_at
        if sent < now - self.window_seconds:
            raise StaleEnvelope(
                envelope,
                f"it was sent {now - sent:.0f} s ago, outside the {self.window_seconds:g} s "
                "replay window",
            )
        if sent > now + self.max_skew_seconds:
            raise StaleEnvelope(
                envelope,
                f"it was sent {sent - now:.0f} s in the future, more than the "
                f"{self.max_skew_seconds:g} s clock skew allowed",
            )
        key = _replay_key(receiver or envelope.recipient, envelope.sender, envelope.id)
        if key in self._seen:
            raise ReplayedEnvelope(envelope, f"envelope id {envelope.id} was delivered before")
        if sent <= self._floor or (len(self._seen) >= self.max_ids and sent <= self._by_age[0][0]):
            raise StaleEnvelope(
                envelope,
                f"it is older than every envelope this guard still remembers (it holds its "
                f"maximum of {self.max_ids:,} ids)",
            )
        if len(self._seen) >= self.max_ids:
            oldest, dropped = heapq.heappop(self._by_age)
            self._seen.discard(dropped)
            self._floor = max(self._floor, oldest)
        self._seen.add(key)
        heapq.heappush(self._by_age, (sent, key))

    def __len__(self) -> int:
        """How many envelope ids are remembered now."""
        return len(self._seen)

    def _forget(self, before: float) -> None:
        by_age = self._by_age
        while by_age and by_age[0][0] < before:
            self._seen.discard(heapq.heappop(by_age)[1])


def _replay_key(receiver: str, sender: str, envelope_id: str) -> bytes:
    # 16 bytes instead of three strings: a full guard stays a few MB.
    text = "\x00".join((receiver, sender, envelope_id)).encode()
    return hashlib.blake2b(text, digest_size=16).digest()


# --- middleware ---------------------------------------------------------------------------


def verify_signatures(
    directory: Directory,
    *,
    guard: ReplayGuard | None = None,
    record: Record | None = None,
    trust_same_entity: bool = True,
) -> Middleware:
    """Middleware that lets through only envelopes proved to come from their sender.

    An envelope from another entity than the receiving agent's (or from an agent the
    directory does not know) must be signed by the sender's key, be addressed to this
    agent or to a topic, and pass `guard` (a fresh `ReplayGuard` by default). A rejected
    envelope goes to `record` with its error, which is then raised: the inner handler
    never runs. A request's caller gets the error; a one-way envelope's lands in the
    transport's dead letters.
    """
    replays = guard if guard is not None else ReplayGuard()

    def check(envelope: Envelope, receiver: str) -> None:
        if envelope.signature is None:
            sender_entity = directory.entity_of(envelope.sender)
            receiver_entity = directory.entity_of(receiver)
            if trust_same_entity and sender_entity is not None and sender_entity == receiver_entity:
                return
            raise UnsignedEnvelope(
                envelope,
                _boundary(
                    envelope.sender, sender_entity, receiver, receiver_entity, trust_same_entity
                ),
            )
        verify_envelope(envelope, directory.keyring, owner_of=directory.agent_of_key)
        if envelope.recipient != receiver and envelope.recipient in directory:
            raise MisdirectedEnvelope(
                envelope, f"it was delivered to {receiver!r}, but signed for another agent"
            )
        replays.check(envelope, receiver=receiver)

    def wrap(handler: Handler) -> Handler:
        async def verified(envelope: Envelope, context: Context) -> Reply:
            try:
                check(envelope, context.agent_id)
            except EnvelopeRejected as error:
                log.warning("%s (at %s)", error, context.agent_id)
                if record is not None:
                    try:
                        record(envelope, error)
                    except Exception:  # a failing recorder must not hide the rejection
                        log.exception("recording the rejection of envelope %s failed", envelope.id)
                raise
            return await handler(envelope, context)

        return verified

    return wrap


def _boundary(
    sender: str,
    sender_entity: str | None,
    receiver: str,
    receiver_entity: str | None,
    trust_same_entity: bool,
) -> str:
    if not trust_same_entity:
        return f"it carries no signature, and {receiver!r} requires one on every envelope"
    if sender_entity is None:
        return f"it carries no signature, and {sender!r} is not a known agent of any entity"
    inside = f"entity {receiver_entity!r}" if receiver_entity else "no known entity"
    return (
        f"it carries no signature, and it crosses from entity {sender_entity!r} "
        f"to {receiver!r} of {inside}"
    )


class SigningContext:
    """A `Context` that signs, with the agent's key, every envelope the agent sends.

    An envelope whose sender is this agent is (re-)signed; one from another sender is
    passed on unchanged (a relay keeps its original sender's signature, and this agent
    does not vouch for what others said).
    """

    __slots__ = ("_context", "_key")

    def __init__(self, context: Context, key: PrivateKey) -> None:
        self._context = context
        self._key = key

    @property
    def agent_id(self) -> str:
        return self._context.agent_id

    def sign(self, envelope: Envelope) -> Envelope:
        if envelope.sender != self._context.agent_id:
            return envelope
        return sign_envelope(envelope, self._key)

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        return await self._context.request(self.sign(envelope), timeout=timeout)

    async def post(self, envelope: Envelope) -> None:
        await self._context.post(self.sign(envelope))

    def __repr__(self) -> str:
        return f"SigningContext({self._context.agent_id!r}, key={self._key.id!r})"


def sign_outgoing(key: PrivateKey) -> Middleware:
    """Middleware that hands the inner handler a `SigningContext`: what it sends is signed."""

    def wrap(handler: Handler) -> Handler:
        async def signing(envelope: Envelope, context: Context) -> Reply:
            return await handler(envelope, SigningContext(context, key))

        return signing

    return wrap


# --- cards --------------------------------------------------------------------------------


def canonical_card_bytes(card: AgentCard) -> bytes:
    """What a card's signature is over: a domain tag, then the card's canonical JSON
    without `signature` (prices as decimal strings)."""
    return CARD_DOMAIN + _canonical(card.model_dump(mode="json", exclude={"signature"}))


def sign_card(card: AgentCard, entity_key: PrivateKey) -> AgentCard:
    """A copy of `card` signed by its entity's key."""
    signature = entity_key.sign(canonical_card_bytes(card))
    return card.model_copy(update={"signature": f"{entity_key.id}:{signature.hex()}"})


def verify_card(
    card: AgentCard, keyring: KeyRing, *, owner_of: Callable[[str], str | None]
) -> None:
    """Check that `card` is signed by a key of `card.entity` and unaltered since; raises
    `ForgedCard`. `owner_of` maps a key id to the entity it speaks for
    (`Directory.entity_of_key`)."""
    if card.signature is None:
        raise ForgedCard(card, "it carries no signature")
    parsed = _split(card.signature)
    if parsed is None:
        raise ForgedCard(card, "its signature is not '<key id>:<128 hex digits>'")
    key_id, signature = parsed
    key = keyring.get(key_id)
    if key is None:
        raise ForgedCard(card, f"it is signed with key {key_id}, which no one trusts")
    owner = owner_of(key_id)
    if owner != card.entity:
        whose = f"entity {owner!r}'s" if owner else "a key bound to no entity"
        raise ForgedCard(card, f"it is signed with {whose} key {key_id}")
    if not key.verify(canonical_card_bytes(card), signature):
        raise ForgedCard(card, f"the signature by key {key_id} does not match its content")


# --- helpers ------------------------------------------------------------------------------


def _canonical(value: dict[str, Any]) -> bytes:
    return canonical_json(value).encode()


def _split(signature: str) -> tuple[str, bytes] | None:
    key_id, sep, digits = signature.partition(":")
    if not sep or not key_id or len(digits) != SIGNATURE_HEX_DIGITS:
        return None
    try:
        return key_id, bytes.fromhex(digits)
    except ValueError:
        return None
