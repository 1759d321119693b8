"""Lamas envelopes, messages and cards through A2A's types and JSON, and back, exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from a2a.types import AgentCard as A2ACard
from a2a.types import Message as A2AMessage
from a2a.types import Part as A2APart
from a2a.types import Role
from google.protobuf.json_format import MessageToJson, Parse

from lamas.errors import MalformedMessage
from lamas.interop.cards import (
    LAMAS_EXTENSION,
    card_from_json,
    card_to_json,
    from_a2a_card,
    to_a2a_card,
)
from lamas.interop.wire import envelope_from_a2a, envelope_to_a2a, message_from_a2a, message_to_a2a
from lamas.protocol.messages import (
    DataPart,
    Envelope,
    FileContent,
    FilePart,
    Message,
    SealedRef,
    TextPart,
)
from lamas.runtime.netfile import load_spec
from lamas.security.identity import PrivateKey
from lamas.security.signing import Directory, sign_envelope, verify_envelope

NETWORK = Path(__file__).resolve().parents[2] / "examples" / "travel" / "network.yaml"


def over_the_wire(message: A2AMessage) -> A2AMessage:
    """What the other side parses: the A2A JSON form."""
    return Parse(MessageToJson(message), A2AMessage())


def every_part_kind() -> Message:
    return Message(
        role="user",
        parts=(
            TextPart(text="book it", metadata={"lang": "en"}),
            DataPart(data={"nights": 2, "price": 89.5, "rooms": [1, {"a": None}], "ok": True}),
            SealedRef(field="passport", vault_id="vault-1", token="t" * 24),
            FilePart(file=FileContent(name="id.png", mime_type="image/png", bytes="aGVsbG8=")),
            FilePart(file=FileContent(uri="https://example.org/x.pdf")),
        ),
        metadata={"trace": "abc"},
    )


def test_an_envelope_comes_back_identical_and_its_signature_still_checks() -> None:
    key = PrivateKey.generate()
    directory = Directory()
    directory.add_agent("orchestrator", "platform", key)
    envelope = sign_envelope(
        Envelope(
            sender="orchestrator",
            recipient="railgo",
            skill="ticket.book",
            priority=7,
            mode="async",
            task_id="task-1",
            context_id="ctx-1",
            deadline=2e9,
            trace="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            message=every_part_kind(),
        ),
        key,
    )
    back = envelope_from_a2a(over_the_wire(envelope_to_a2a(envelope)), recipient="railgo")
    assert back == envelope
    verify_envelope(back, directory.keyring, owner_of=directory.agent_of_key)


def test_a_plain_a2a_peer_sees_native_parts_and_a_sealed_ref_carries_no_value() -> None:
    a2a = envelope_to_a2a(Envelope(sender="a", recipient="b", message=every_part_kind()))
    assert a2a.role == Role.ROLE_USER
    assert a2a.parts[0].text == "book it"
    assert a2a.parts[1].HasField("data")
    assert a2a.parts[3].raw == b"hello"
    assert a2a.parts[4].url == "https://example.org/x.pdf"
    sealed = a2a.parts[2]
    assert "passport" in MessageToJson(sealed)  # the field is named ...
    assert set(sealed.data.struct_value.fields) == {"field", "vault_id", "token"}  # ... no value


def test_a_plain_a2a_message_becomes_an_unsigned_envelope_from_its_caller() -> None:
    plain = A2AMessage(
        message_id="m1",
        role=Role.ROLE_USER,
        parts=[A2APart(text="hello")],
    )
    plain.metadata.update({"skill": "plan.trip"})
    envelope = envelope_from_a2a(over_the_wire(plain), recipient="orchestrator", sender="user")
    assert (envelope.sender, envelope.recipient, envelope.skill) == (
        "user",
        "orchestrator",
        "plan.trip",
    )
    assert envelope.signature is None
    assert envelope.message.text == "hello"


def test_plain_data_numbers_come_back_as_ints_where_whole() -> None:
    plain = message_to_a2a(Message.of_data({"n": 2, "x": 1.5}), exact=False)
    assert message_from_a2a(over_the_wire(plain)).data == {"n": 2, "x": 1.5}


def test_a_message_with_no_parts_is_refused() -> None:
    with pytest.raises(MalformedMessage):
        message_from_a2a(A2AMessage(message_id="m", role=Role.ROLE_AGENT))


def test_a_tampered_exact_form_is_refused() -> None:
    a2a = envelope_to_a2a(Envelope(sender="a", recipient="b", message=Message.of_text("x")))
    a2a.metadata.update({"lamas.envelope": '{"sender": "a"}'})
    with pytest.raises(MalformedMessage):
        envelope_from_a2a(a2a, recipient="b")


def test_every_travel_card_maps_to_a2a_and_back_without_loss() -> None:
    key = PrivateKey.generate()
    from lamas.security.signing import sign_card

    for spec in load_spec(NETWORK).agents:
        card = sign_card(spec.card.model_copy(update={"url": "http://127.0.0.1:9/"}), key)
        a2a = to_a2a_card(card)
        assert a2a.supported_interfaces[0].url == "http://127.0.0.1:9/"
        assert a2a.supported_interfaces[0].protocol_version == "1.0"
        assert [s.id for s in a2a.skills] == [s.name for s in card.skills]
        assert a2a.provider.organization == card.entity
        assert from_a2a_card(card_from_json(card_to_json(a2a))) == card


def test_someone_elses_a2a_card_still_maps() -> None:
    foreign = to_a2a_card(load_spec(NETWORK).agents[1].card.model_copy(update={"url": "http://h/"}))
    foreign.capabilities.ClearField("extensions")
    card = from_a2a_card(foreign)
    assert card.id == "Personal-Agent"
    assert card.url == "http://h/"
    assert [s.name for s in card.skills] == [
        "vault.grant",
        "vault.redeem",
        "vault.fingerprints",
        "consensus.vote",
    ]


def test_a_card_whose_lamas_form_names_another_url_is_refused() -> None:
    card = load_spec(NETWORK).agents[1].card.model_copy(update={"url": "http://h/"})
    a2a = to_a2a_card(card)
    a2a.supported_interfaces[0].url = "http://elsewhere/"
    assert any(e.uri == LAMAS_EXTENSION for e in a2a.capabilities.extensions)
    with pytest.raises(MalformedMessage, match="served at"):
        from_a2a_card(A2ACard.FromString(a2a.SerializeToString()))
