"""Signed envelopes across entities, replay protection, signed agent cards, signing contexts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from lamas.agent import Agent
from lamas.errors import ConfigError, DeliveryError, InputError
from lamas.protocol.cards import AgentCard, Price, Skill
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Middleware, Reply
from lamas.protocol.types import Handler as HandlerType
from lamas.runtime.network import Network
from lamas.security.identity import PrivateKey
from lamas.security.signing import (
    CARD_DOMAIN,
    ENVELOPE_DOMAIN,
    Directory,
    EnvelopeRejected,
    ForgedCard,
    ForgedEnvelope,
    MisdirectedEnvelope,
    ReplayedEnvelope,
    ReplayGuard,
    SigningContext,
    StaleEnvelope,
    TamperedEnvelope,
    UnsignedEnvelope,
    canonical_card_bytes,
    canonical_envelope_bytes,
    sign_card,
    sign_envelope,
    sign_outgoing,
    verify_card,
    verify_envelope,
    verify_signatures,
)

ENTITIES = {"user": "Xair", "a": "Xair", "a2": "Xair", "b": "Yhotel", "c": "Zpay", "m": "Mallory"}


@dataclass
class World:
    """Six agents of four entities, each with its own key, and each entity's card key."""

    directory: Directory = field(default_factory=Directory)
    keys: dict[str, PrivateKey] = field(default_factory=dict)
    entity_keys: dict[str, PrivateKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entity in sorted(set(ENTITIES.values())):
            self.entity_keys[entity] = PrivateKey.generate()
            self.directory.add_entity(entity, self.entity_keys[entity].public)
        for agent_id, entity in ENTITIES.items():
            self.keys[agent_id] = PrivateKey.generate()
            self.directory.add_agent(agent_id, entity, self.keys[agent_id].public)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def envelope(sender: str, recipient: str, text: str = "hello", **fields: object) -> Envelope:
    return Envelope(sender=sender, recipient=recipient, message=Message.of_text(text), **fields)


def card(agent_id: str, entity: str) -> AgentCard:
    return AgentCard(
        id=agent_id,
        name=agent_id.upper(),
        entity=entity,
        skills=(Skill(name="quote", description="quotes a price"),),
        prices=(Price(skill="quote", amount="0.25"),),
    )


class Handler:
    """Remembers what it was given; answers with who it is."""

    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    async def __call__(self, envelope: Envelope, context: Context) -> Reply:
        self.seen.append(envelope)
        return Message.of_data({"by": context.agent_id, "text": envelope.message.text})


class Outbox:
    """A context that keeps what is sent through it instead of delivering it."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.sent: list[Envelope] = []

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Message:
        self.sent.append(envelope)
        return Message.of_text("ok")

    async def post(self, envelope: Envelope) -> None:
        self.sent.append(envelope)


class Rejections(list[tuple[Envelope, Exception]]):
    def __call__(self, envelope: Envelope, error: Exception) -> None:
        self.append((envelope, error))


def receiver(
    world: World, agent_id: str = "b", *, trust_same_entity: bool = True
) -> tuple[Network, Handler, Rejections]:
    handler, rejections = Handler(), Rejections()
    guard = verify_signatures(
        world.directory, record=rejections, trust_same_entity=trust_same_entity
    )
    agent = Agent(card(agent_id, ENTITIES[agent_id]), handler, middleware=[guard])
    return Network([agent]), handler, rejections


# --- the canonical form -------------------------------------------------------------------


def test_the_signature_covers_everything_but_itself_under_a_domain_tag(world: World) -> None:
    plain = envelope("a", "b", task_id="t1", priority=7)
    signed = sign_envelope(plain, world.keys["a"])
    assert canonical_envelope_bytes(plain) == canonical_envelope_bytes(signed)
    assert canonical_envelope_bytes(plain).startswith(ENVELOPE_DOMAIN)
    assert b'"signature"' not in canonical_envelope_bytes(signed)
    key_id, _, digits = (signed.signature or "").partition(":")
    assert key_id == world.keys["a"].id
    assert len(digits) == 128
    assert sign_envelope(signed, world.keys["a"]) == signed  # Ed25519 is deterministic
    assert plain.signature is None  # signing returns a copy


def test_a_signed_envelope_still_verifies_after_a_trip_through_json(world: World) -> None:
    signed = sign_envelope(
        envelope("a", "b", "caf\u00e9 \U0001f600", sent_at=1_700_000_000.123456789),
        world.keys["a"],
    )
    back = Envelope.parse(signed.model_dump_json())
    verify_envelope(back, world.directory.keyring, owner_of=world.directory.agent_of_key)


def test_verify_envelope_names_each_failure(world: World) -> None:
    ring, owner_of = world.directory.keyring, world.directory.agent_of_key
    with pytest.raises(UnsignedEnvelope, match="carries no signature"):
        verify_envelope(envelope("a", "b"), ring, owner_of=owner_of)
    garbled = envelope("a", "b").model_copy(update={"signature": "nonsense"})
    with pytest.raises(ForgedEnvelope, match="is not '<key id>:<128 hex digits>'"):
        verify_envelope(garbled, ring, owner_of=owner_of)
    stranger = PrivateKey.generate()
    with pytest.raises(ForgedEnvelope, match=f"key {stranger.id}, which no one trusts"):
        verify_envelope(sign_envelope(envelope("a", "b"), stranger), ring, owner_of=owner_of)
    card_key = world.entity_keys["Xair"]  # an entity's card key does not speak for its agents
    with pytest.raises(ForgedEnvelope, match="a key bound to no agent"):
        verify_envelope(sign_envelope(envelope("a", "b"), card_key), ring, owner_of=owner_of)


# --- delivery through a network -----------------------------------------------------------


async def test_a_signed_envelope_across_entities_is_delivered(world: World) -> None:
    network, handler, rejections = receiver(world)
    sent = sign_envelope(envelope("a", "b", "book a room"), world.keys["a"])
    reply = await network.transport.request(sent)
    assert reply.data == {"by": "b", "text": "book a room"}
    assert handler.seen == [sent]
    assert rejections == []


def forged(world: World) -> Envelope:  # mallory signs as a, with her own key
    return sign_envelope(envelope("a", "b"), world.keys["m"])


def tampered(world: World) -> Envelope:  # edited on the way: the price went up
    signed = sign_envelope(envelope("a", "b", "pay 10 EUR"), world.keys["a"])
    return signed.model_copy(update={"message": Message.of_text("pay 1000 EUR")})


def readdressed(world: World) -> Envelope:  # a signed envelope for c, replayed at b
    return sign_envelope(envelope("a", "c"), world.keys["a"])


def stale(world: World) -> Envelope:
    return sign_envelope(envelope("a", "b", sent_at=time.time() - 600), world.keys["a"])


def future(world: World) -> Envelope:
    return sign_envelope(envelope("a", "b", sent_at=time.time() + 600), world.keys["a"])


def unsigned(world: World) -> Envelope:
    return envelope("a", "b")


def stranger(world: World) -> Envelope:  # not in the directory at all
    return envelope("eve", "b")


@pytest.mark.parametrize(
    ("make", "error", "reason"),
    [
        (forged, ForgedEnvelope, "signed with agent 'm''s key .* not with a key of 'a'"),
        (tampered, TamperedEnvelope, "signature by 'a''s key .* does not match it"),
        (stale, StaleEnvelope, "sent 600 s ago, outside the 300 s replay window"),
        (future, StaleEnvelope, "sent 600 s in the future"),
        (unsigned, UnsignedEnvelope, "crosses from entity 'Xair' to 'b' of entity 'Yhotel'"),
        (stranger, UnsignedEnvelope, "'eve' is not a known agent of any entity"),
    ],
)
async def test_a_bad_envelope_is_rejected_recorded_and_never_handled(
    world: World,
    make: Callable[[World], Envelope],
    error: type[EnvelopeRejected],
    reason: str,
) -> None:
    network, handler, rejections = receiver(world)
    bad = make(world)
    with pytest.raises(error, match=reason) as raised:
        await network.transport.request(bad)
    assert f"from {bad.sender!r}" in str(raised.value)
    assert raised.value.sender == bad.sender
    assert raised.value.envelope_id == bad.id
    assert isinstance(raised.value, DeliveryError)
    assert rejections == [(bad, raised.value)]
    assert handler.seen == []


async def test_an_envelope_signed_for_one_agent_is_refused_by_another(world: World) -> None:
    # A transport that routes by recipient never does this; an HTTP endpoint takes whatever
    # is posted to it, so a captured envelope for c could be replayed at b.
    handler, rejections = Handler(), Rejections()
    agent = Agent(
        card("b", "Yhotel"),
        handler,
        middleware=[verify_signatures(world.directory, record=rejections)],
    )
    bad = readdressed(world)
    with pytest.raises(MisdirectedEnvelope, match="delivered to 'b', but signed for another"):
        await agent(bad, Outbox("b"))
    assert handler.seen == []
    assert [e for e, _ in rejections] == [bad]


async def test_a_replayed_envelope_is_delivered_once(world: World) -> None:
    network, handler, rejections = receiver(world)
    sent = sign_envelope(envelope("a", "b"), world.keys["a"])
    await network.transport.request(sent)
    with pytest.raises(ReplayedEnvelope, match=f"id {sent.id} was delivered before") as raised:
        await network.transport.request(sent)
    assert "replayed envelope" in str(raised.value)
    assert "from 'a'" in str(raised.value)
    assert handler.seen == [sent]
    assert rejections == [(sent, raised.value)]


async def test_a_forged_one_way_envelope_lands_in_the_dead_letters(world: World) -> None:
    network, handler, rejections = receiver(world)
    bad = forged(world)
    await network.transport.post(bad)
    await _settle()
    [letter] = network.transport.dead_letters
    assert letter.envelope == bad
    assert isinstance(letter.error, ForgedEnvelope)
    assert handler.seen == []
    assert len(rejections) == 1


async def _settle() -> None:
    for _ in range(5):  # let the mailbox workers run
        await asyncio.sleep(0)


async def test_unsigned_envelopes_within_one_entity_pass(world: World) -> None:
    network, handler, rejections = receiver(world, "a")
    reply = await network.transport.request(envelope("a2", "a", "colleague"))
    assert reply.data["text"] == "colleague"
    assert len(handler.seen) == 1
    assert rejections == []


async def test_a_strict_receiver_wants_signatures_from_colleagues_too(world: World) -> None:
    network, handler, _ = receiver(world, "a", trust_same_entity=False)
    with pytest.raises(UnsignedEnvelope, match="requires one on every envelope"):
        await network.transport.request(envelope("a2", "a"))
    await network.transport.request(sign_envelope(envelope("a2", "a"), world.keys["a2"]))
    assert len(handler.seen) == 1


async def test_a_signature_present_is_checked_even_within_one_entity(world: World) -> None:
    network, handler, rejections = receiver(world, "a")
    bad = sign_envelope(envelope("a2", "a"), world.keys["m"])
    with pytest.raises(ForgedEnvelope):
        await network.transport.request(bad)
    assert handler.seen == []
    assert len(rejections) == 1


async def test_a_failing_recorder_does_not_hide_the_rejection(world: World) -> None:
    def broken(envelope: Envelope, error: Exception) -> None:
        raise RuntimeError("audit log is down")

    handler = Handler()
    agent = Agent(
        card("b", "Yhotel"), handler, middleware=[verify_signatures(world.directory, record=broken)]
    )
    with pytest.raises(UnsignedEnvelope):
        await Network([agent]).transport.request(envelope("a", "b"))
    assert handler.seen == []


async def test_one_published_envelope_reaches_each_subscriber_once(world: World) -> None:
    shared = ReplayGuard()  # one guard for two agents: replays are per receiver
    handlers = {"b": Handler(), "c": Handler()}
    network = Network(
        Agent(
            card(agent_id, ENTITIES[agent_id]),
            handlers[agent_id],
            middleware=[verify_signatures(world.directory, guard=shared)],
        )
        for agent_id in handlers
    )
    for agent_id in handlers:
        network.transport.subscribe("offers", agent_id)
    sent = sign_envelope(envelope("a", "offers", kind="event"), world.keys["a"])
    assert await network.transport.publish(sent) == 2
    await _settle()
    assert [len(h.seen) for h in handlers.values()] == [1, 1]
    assert not network.transport.dead_letters
    assert len(shared) == 2


# --- signing what an agent sends ----------------------------------------------------------


def relay(next_hop: str) -> HandlerType:
    async def forward(envelope: Envelope, context: Context) -> Reply:
        onward = Envelope(sender=context.agent_id, recipient=next_hop, message=envelope.message)
        reply = await context.request(onward)
        return Message.of_data(
            {**reply.data, "via": [context.agent_id, *reply.data.get("via", [])]}
        )

    return forward


def chain(world: World, *, b_signs: bool) -> tuple[Network, Handler, Rejections]:
    """user (Xair) -> a (Xair) -> b (Yhotel) -> c (Zpay); every agent verifies."""
    rejections, end = Rejections(), Handler()
    verify = verify_signatures(world.directory, record=rejections)

    def stack(agent_id: str, signs: bool) -> list[Middleware]:
        return [verify, sign_outgoing(world.keys[agent_id])] if signs else [verify]

    network = Network(
        [
            Agent(card("a", "Xair"), relay("b"), middleware=stack("a", True)),
            Agent(card("b", "Yhotel"), relay("c"), middleware=stack("b", b_signs)),
            Agent(card("c", "Zpay"), end, middleware=stack("c", True)),
        ]
    )
    return network, end, rejections


async def test_signed_requests_cross_three_entities(world: World) -> None:
    network, end, rejections = chain(world, b_signs=True)
    reply = await network.transport.request(envelope("user", "a", "pay the hotel"))
    assert reply.data == {"by": "c", "text": "pay the hotel", "via": ["a", "b"]}
    [last] = end.seen
    assert last.sender == "b"
    assert last.signature is not None
    assert last.signature.startswith(world.keys["b"].id + ":")
    assert rejections == []


async def test_an_agent_that_does_not_sign_is_refused_downstream(world: World) -> None:
    network, end, rejections = chain(world, b_signs=False)
    with pytest.raises(UnsignedEnvelope, match=r"from 'b' to 'c'.*entity 'Yhotel'"):
        await network.transport.request(envelope("user", "a", "pay the hotel"))
    assert end.seen == []
    [(refused, error)] = rejections
    assert refused.sender == "b"
    assert isinstance(error, UnsignedEnvelope)


async def test_a_signing_context_passes_others_envelopes_through(world: World) -> None:
    outbox = Outbox("b")
    sent = outbox.sent
    context = SigningContext(outbox, world.keys["b"])
    assert context.agent_id == "b"
    relayed = sign_envelope(envelope("a", "offers"), world.keys["a"])
    await context.post(relayed)
    await context.post(envelope("b", "c"))
    await context.request(envelope("b", "c"), timeout=1.0)
    assert sent[0] is relayed
    ring, owner_of = world.directory.keyring, world.directory.agent_of_key
    for own in sent[1:]:
        verify_envelope(own, ring, owner_of=owner_of)


# --- replay guard -------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_guard_forgets_ids_once_they_leave_the_window() -> None:
    clock = Clock()
    guard = ReplayGuard(window_seconds=60, clock=clock)
    first = envelope("a", "b", sent_at=clock.now)
    guard.check(first)
    with pytest.raises(ReplayedEnvelope):
        guard.check(first)
    guard.check(first, receiver="c")  # the same envelope, to another receiver (a topic)
    assert len(guard) == 2
    clock.now += 61
    with pytest.raises(StaleEnvelope, match="sent 61 s ago, outside the 60 s replay window"):
        guard.check(first)  # forgotten, but too old to be let in again
    assert len(guard) == 0
    guard.check(envelope("a", "b", sent_at=clock.now + 29))  # within the allowed skew
    with pytest.raises(StaleEnvelope, match="31 s in the future, more than the 30 s"):
        guard.check(envelope("a", "b", sent_at=clock.now + 31))


def test_a_full_guard_refuses_what_it_can_no_longer_tell_apart() -> None:
    clock = Clock()
    guard = ReplayGuard(window_seconds=60, max_ids=2, clock=clock)
    old, middle, new = (envelope("a", "b", sent_at=clock.now - age) for age in (30, 20, 10))
    guard.check(old)
    guard.check(middle)
    guard.check(new)  # evicts `old`, and nothing sent at or before it is accepted any more
    assert len(guard) == 2
    with pytest.raises(StaleEnvelope, match="maximum of 2 ids"):
        guard.check(old)  # a replay of the forgotten id is still refused
    with pytest.raises(StaleEnvelope, match="maximum of 2 ids"):
        guard.check(envelope("a", "b", sent_at=clock.now - 25))  # older than all remembered
    with pytest.raises(ReplayedEnvelope) as raised:
        guard.check(middle)  # still remembered: called what it is
    assert type(raised.value) is ReplayedEnvelope
    guard.check(envelope("a", "b", sent_at=clock.now))


def test_the_guard_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="window_seconds must be positive"):
        ReplayGuard(0)
    with pytest.raises(ValueError, match="max_ids must be at least 1"):
        ReplayGuard(max_ids=0)
    with pytest.raises(ValueError, match="max_skew_seconds"):
        ReplayGuard(max_skew_seconds=-1)


# --- cards --------------------------------------------------------------------------------


def test_a_card_signed_by_its_entity_verifies(world: World) -> None:
    signed = sign_card(card("b", "Yhotel"), world.entity_keys["Yhotel"])
    verify_card(signed, world.directory.keyring, owner_of=world.directory.entity_of_key)
    assert canonical_card_bytes(signed).startswith(CARD_DOMAIN)
    back = AgentCard.parse(signed.model_dump_json())  # as served at /.well-known/agent-card.json
    verify_card(back, world.directory.keyring, owner_of=world.directory.entity_of_key)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda w: card("b", "Yhotel"), "carries no signature"),
        (
            lambda w: sign_card(card("b", "Yhotel"), w.entity_keys["Yhotel"]).model_copy(
                update={"prices": (Price(skill="quote", amount="0.01"),)}
            ),
            "does not match its content",
        ),
        (
            lambda w: sign_card(card("b", "Yhotel"), w.entity_keys["Mallory"]),
            "signed with entity 'Mallory''s key",
        ),
        (
            lambda w: sign_card(card("b", "Yhotel"), w.keys["b"]),  # the agent vouching for itself
            "a key bound to no entity",
        ),
        (
            lambda w: sign_card(card("b", "Yhotel"), PrivateKey.generate()),
            "which no one trusts",
        ),
    ],
)
def test_a_card_not_vouched_for_by_its_entity_is_refused(
    world: World, make: Callable[[World], AgentCard], reason: str
) -> None:
    with pytest.raises(ForgedCard, match=reason) as raised:
        verify_card(make(world), world.directory.keyring, owner_of=world.directory.entity_of_key)
    assert "agent card 'b' (entity 'Yhotel')" in str(raised.value)
    assert isinstance(raised.value, InputError)


def test_the_directory_admits_a_card_only_with_its_entitys_signature() -> None:
    directory, hotel, agent_key = Directory(), PrivateKey.generate(), PrivateKey.generate()
    directory.add_entity("Yhotel", hotel)
    with pytest.raises(ForgedCard):
        directory.admit(card("b", "Yhotel"), agent_key)
    assert "b" not in directory
    directory.admit(sign_card(card("b", "Yhotel"), hotel), agent_key)
    assert directory.entity_of("b") == "Yhotel"
    assert directory.agent_of_key(agent_key.id) == "b"
    assert directory.entity_of_key(hotel.id) == "Yhotel"
    assert list(directory) == ["b"]
    assert len(directory) == 1


def test_a_key_speaks_for_one_principal_and_an_agent_has_one_owner() -> None:
    directory, key = Directory(), PrivateKey.generate()
    directory.add_agent("b", "Yhotel", key)
    directory.add_agent("b", "Yhotel", key)  # the same again is fine
    with pytest.raises(ConfigError, match="already speaks for agent 'b'"):
        directory.add_agent("c", "Zpay", key)
    with pytest.raises(ConfigError, match="already speaks for agent 'b'"):
        directory.add_entity("Yhotel", key)
    with pytest.raises(ConfigError, match="belongs to entity 'Yhotel', not 'Zpay'"):
        directory.add_agent("b", "Zpay", PrivateKey.generate())
    directory.add_agent("b", "Yhotel", PrivateKey.generate())  # a second key: a rotation
    assert len(directory.keyring) == 2
