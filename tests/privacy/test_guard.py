"""The guard recognises vault values from fingerprints, wherever they hide in a message."""

from __future__ import annotations

import pytest

from lamas.agent import Agent
from lamas.errors import VaultValueLeak
from lamas.privacy import Fingerprints, PrivacyGuard, Vault, new_key
from lamas.privacy.service import export_fingerprints, import_fingerprints
from lamas.protocol import AgentCard, Context, Envelope, Message
from lamas.protocol.messages import DataPart, SealedRef, TextPart
from lamas.runtime import Network
from lamas.runtime.gate import Gate

PROFILE = {
    "name": "Camille Martin",
    "passport_number": "19AB48213",
    "payment_card": "4970 1012 3456 7893",
    "home_address": "12 Rue des Lilas, 75011 Paris, France",
    "preferences": {"seat": "window", "note": "canary-pref-71bd20"},
}


@pytest.fixture
def prints() -> Fingerprints:
    return Vault.create(PROFILE, new_key()).fingerprints()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("passenger CAMILLE   martin, coach 3", "name"),
        ("card 4970-1012-3456-7893 charged", "payment_card"),
        ("card 4970101234567893", "payment_card"),
        ("passport: 19ab48213.", "passport_number"),
        ("ship to 12 rue des lilas 75011 paris france", "home_address"),
        ("note canary-pref-71bd20", "preferences.note"),
    ],
)
def test_values_are_found_however_they_are_written(
    prints: Fingerprints, text: str, field: str
) -> None:
    assert prints.find(text) == field


@pytest.mark.parametrize(
    "text",
    [
        "Camille booked a hotel in Paris",  # one token of a value is not the value
        "a window seat",  # too short a value to fingerprint
        "4970 1012 3456 7890",  # another card
        "Martin Camille",  # tokens in another order
    ],
)
def test_ordinary_text_passes(prints: Fingerprints, text: str) -> None:
    assert prints.find(text) is None


def test_fingerprints_hold_no_value_and_survive_the_wire(prints: Fingerprints) -> None:
    exported = export_fingerprints(prints)
    import json

    text = json.dumps(exported).casefold()
    for token in ("camille", "19ab48213", "4970", "lilas", "canary"):
        assert token not in text
    again = import_fingerprints(exported)
    assert again.find("Camille Martin") == "name"


def test_every_part_and_metadata_is_scanned(prints: Fingerprints) -> None:
    guard = PrivacyGuard([prints])
    deep = {"a": [{"b": {"c": "Camille Martin"}}]}
    for message in (
        Message.of_text("for Camille Martin"),
        Message(parts=(DataPart(data=deep),)),
        Message(parts=(DataPart(data={"Camille Martin": 1}),)),
        Message(parts=(TextPart(text="ok", metadata={"x": "19AB48213"}),)),
        Message(parts=(TextPart(text="ok"),), metadata={"card": 4970101234567893}),
    ):
        assert guard.leaked(message) is not None, message
    ref = SealedRef(field="name", vault_id="v1", token="t" * 32)
    assert guard.leaked(Message(parts=(ref, DataPart(data={"offer": "x"})))) is None


async def test_middleware_rejects_inbound_replies_and_outbound(prints: Fingerprints) -> None:
    guard = PrivacyGuard([prints])
    net = Network()
    card = AgentCard(id="hub", name="Hub", entity="platform")

    async def echo(envelope: Envelope, context: Context) -> Message:
        if envelope.message.text == "send":
            await context.request(
                Envelope(sender="hub", recipient="user", message=Message.of_text("Camille Martin"))
            )
        return Message.of_text("19AB48213" if envelope.message.text == "leak" else "ok")

    net.add(Agent(card, echo, middleware=[guard.middleware()]))
    net.add(Agent(AgentCard(id="user", name="U", entity="u"), echo))

    def to_hub(message: Message) -> Envelope:
        return Envelope(sender="user", recipient="hub", message=message)

    assert (await net.transport.request(to_hub(Message.of_text("hello")))).text == "ok"
    with pytest.raises(VaultValueLeak, match=r"inbound.*'name'"):
        await net.transport.request(to_hub(Message.of_text("I am Camille Martin")))
    with pytest.raises(VaultValueLeak, match=r"reply.*'passport_number'"):
        await net.transport.request(to_hub(Message.of_text("leak")))
    with pytest.raises(VaultValueLeak, match="outbound"):
        await net.transport.request(to_hub(Message.of_text("send")))
    assert [r.where for r in guard.rejected] == ["inbound", "reply", "outbound"]
    assert "Camille" not in repr(guard.rejected)
    # The same middleware around the hub's own sends: a gate.
    gate = Gate("hub", net.transport, [guard.middleware(outbound=True)])
    with pytest.raises(VaultValueLeak, match="outbound reply"):
        await gate.request(
            Envelope(sender="hub", recipient="user", message=Message.of_text("leak"))
        )
    assert guard.rejected[-1].where == "outbound reply"
    await net.transport.close()
