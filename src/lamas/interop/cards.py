"""Lamas agent cards as A2A v1.0 agent cards, and back, without loss.

The A2A card is what any A2A client reads at `/.well-known/agent-card.json`: name,
description, version, its interfaces (JSON-RPC and HTTP+JSON at the URL the agent serves, gRPC
where it is served), the
owning entity as provider, and the skills. What A2A has no field for (input and output
schemas, prices, vault fields, the entity's signature) travels in the lamas extension
(`capabilities.extensions`, uri `LAMAS_EXTENSION`), whose `card` parameter is the exact
lamas card as JSON text: a lamas client reads that and checks the entity's signature
over it. An A2A card without the extension (someone else's agent) still maps: its id
is made from its name, its entity is its provider, its skills take A2A's ids.
"""

from __future__ import annotations

import re
from typing import Any

from a2a.types import (
    AgentCapabilities,
    AgentExtension,
    AgentProvider,
    AgentSkill,
)
from a2a.types import AgentCard as A2ACard
from a2a.utils.constants import TransportProtocol
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Struct

from lamas.errors import MalformedMessage
from lamas.interop.bindings import interfaces
from lamas.protocol.cards import AgentCard, Skill

LAMAS_EXTENSION = "urn:lamas:card:v1"
"""The A2A extension that carries the full lamas card."""
MODES = ["text/plain", "application/json"]


def to_a2a_card(card: AgentCard, *, grpc_target: str | None = None) -> A2ACard:
    """The A2A card of `card`, served at `card.url` (which must be set) over JSON-RPC and
    HTTP+JSON, and over gRPC at `grpc_target` (`host:port`) where that is given."""
    if not card.url:
        raise MalformedMessage("agent card", [f"{card.id!r} has no url to advertise"])
    params = Struct()
    params.update({"card": card.model_dump_json(), "id": card.id, "entity": card.entity})
    return A2ACard(
        name=card.name,
        description=card.description or card.name,
        version=card.version,
        supported_interfaces=interfaces(card.url, grpc_target),
        provider=AgentProvider(organization=card.entity, url=card.url),
        capabilities=AgentCapabilities(
            streaming=True,
            extensions=[
                AgentExtension(
                    uri=LAMAS_EXTENSION,
                    description="the full lamas card: schemas, prices, vault fields, signature",
                    required=False,
                    params=params,
                )
            ],
        ),
        default_input_modes=MODES,
        default_output_modes=MODES,
        skills=[
            AgentSkill(
                id=skill.name,
                name=skill.name,
                description=skill.description,
                tags=list(skill.tags) or [skill.name],
                examples=list(skill.examples),
                input_modes=MODES,
                output_modes=MODES,
            )
            for skill in card.skills
        ],
    )


def from_a2a_card(a2a: A2ACard) -> AgentCard:
    """The lamas card an A2A card describes: the exact one it carries, else one derived
    from its A2A fields. The URL is the card's JSON-RPC interface either way."""
    url = a2a_url(a2a)
    for extension in a2a.capabilities.extensions:
        if extension.uri == LAMAS_EXTENSION:
            exact = MessageToDict(extension.params).get("card")
            if isinstance(exact, str):
                card = AgentCard.parse(exact)
                if card.url != url:
                    raise MalformedMessage(
                        "A2A agent card",
                        [f"its lamas card says url {card.url!r} but it is served at {url!r}"],
                    )
                return card
    entity = a2a.provider.organization if a2a.HasField("provider") else ""
    return AgentCard(
        id=slug(a2a.name),
        name=a2a.name or "unnamed agent",
        description=a2a.description,
        entity=entity or slug(a2a.name),
        version=a2a.version or "1.0.0",
        url=url,
        skills=tuple(
            Skill(
                name=skill_name(s.id or s.name),
                description=s.description or s.name or s.id,
                tags=tuple(s.tags),
                examples=tuple(s.examples),
            )
            for s in a2a.skills
        ),
    )


def a2a_url(a2a: A2ACard) -> str:
    """The URL of the card's JSON-RPC interface (the binding lamas speaks)."""
    for interface in a2a.supported_interfaces:
        if interface.protocol_binding == TransportProtocol.JSONRPC.value:
            return interface.url
    raise MalformedMessage(
        "A2A agent card", [f"{a2a.name!r} offers no JSON-RPC interface; lamas speaks JSON-RPC"]
    )


def card_to_json(a2a: A2ACard) -> dict[str, Any]:
    return MessageToDict(a2a)


def card_from_json(data: dict[str, Any]) -> A2ACard:
    try:
        return ParseDict(data, A2ACard(), ignore_unknown_fields=True)
    except Exception as error:  # protobuf raises its own ParseError
        raise MalformedMessage("A2A agent card", [str(error)]) from None


def slug(name: str) -> str:
    """An agent id made from a display name ('Hotel Finder!' -> 'hotel-finder')."""
    text = re.sub(r"[^A-Za-z0-9_.:@/-]+", "-", name.strip()).strip("-")
    return text[:128] or "agent"


def skill_name(name: str) -> str:
    """A lamas skill name made from an A2A skill id ('Find Hotels' -> 'find_hotels')."""
    text = re.sub(r"[^a-z0-9_.-]+", "_", name.strip().lower()).strip("_")
    if not text or not text[0].isalpha():
        text = f"s_{text}"
    return text[:64]
