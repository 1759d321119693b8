"""The orchestrator and the user's vault: steps granted sealed refs, and the guard on both
sides of the orchestrator turning any leak into an error rather than a convention."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from lamas.agent import Agent
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.privacy import PrivacyGuard, Vault, new_key, redeem, vault_handler
from lamas.protocol import AgentCard, Context, Envelope, Message, Skill, TaskState
from lamas.runtime import Network
from lamas.runtime.orchestrator import Orchestrator

PROFILE = {"name": "Ada Lovelace-Byron", "payment_card": "4970 1012 3456 7893"}
BOOK = Skill(
    name="room.book",
    description="Book a room for the guest",
    input_schema={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "the city"}},
        "required": ["city"],
    },
    examples=("book a room", "book me a room in Paris"),
    vault_fields=("name", "payment_card"),
)


class OneAxis:
    name = "one-axis"
    dimension = 2

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        rows = [[1.0 if re.search(r"room", t.lower()) else 0.0, 0.1] for t in texts]
        matrix = np.array(rows, dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def fill(messages: list[ChatMessage], schema: dict[str, Any] | None) -> dict[str, Any]:
    return {"city": "Paris"}


def world(
    *, echo: bool = False, with_vault: bool = True, profile_skill: bool = False
) -> tuple[Orchestrator, PrivacyGuard, list[Envelope], list[dict[str, Any]]]:
    vault = Vault.create(PROFILE, new_key())
    guard = PrivacyGuard([vault.fingerprints()])
    got: list[dict[str, Any]] = []
    hotel_card = AgentCard(
        id="hotel", name="Hotel", entity="h", skills=(BOOK,), vault_fields=BOOK.vault_fields
    )

    async def hotel(envelope: Envelope, context: Context) -> Message:
        guest = await redeem(context, envelope, vault_agent="personal")
        got.append(guest)
        answer = {"status": "confirmed", "total": 120}
        return Message.of_data({**answer, "guest": guest["name"]} if echo else answer)

    skills = [
        Skill(name=n, description=n, tags=("internal",))
        for n in ("vault.grant", "vault.redeem", "vault.fingerprints")
    ]
    if profile_skill:
        skills.append(Skill(name="profile.get", description="careless", tags=("internal",)))

    async def careless(envelope: Envelope, context: Context) -> Message:
        return Message.of_data({f: PROFILE[f] for f in envelope.message.data["fields"]})

    personal_card = AgentCard(id="personal", name="P", entity="user", skills=tuple(skills))
    agents = [Agent(hotel_card, hotel)]
    if with_vault:
        agents.append(Agent(personal_card, vault_handler(vault, other=careless)))
    network = Network(agents)
    seen: list[Envelope] = []
    network.transport.observers.append(seen.append)
    orchestrator = Orchestrator(
        network,
        ScriptedModel(responder=fill),
        OneAxis(),
        today=dt.date(2026, 11, 25),
        middleware=[guard.middleware(outbound=True)],
        profile_fields=("name",) if profile_skill else (),
    )
    return orchestrator, guard, seen, got


async def test_a_step_needing_user_data_goes_with_sealed_refs_only() -> None:
    orchestrator, guard, seen, got = world()
    session = await orchestrator.submit("book me a room in Paris")
    assert session.task.state is TaskState.COMPLETED, session.task.status_message
    assert got == [PROFILE]  # the hotel redeemed exactly its fields
    step = next(e for e in seen if e.skill == "room.book")
    assert sorted(r.field for r in step.message.sealed_refs) == ["name", "payment_card"]
    grant = next(e for e in seen if e.skill == "vault.grant")
    assert grant.sender == "orchestrator"
    assert grant.message.data["agent"] == "hotel"
    assert guard.rejected == []
    assert guard.checked >= 2


async def test_without_a_vault_the_step_fails_clearly() -> None:
    orchestrator, _, _, _ = world(with_vault=False)
    session = await orchestrator.submit("book me a room in Paris")
    assert session.task.state is TaskState.FAILED
    assert "no agent of this network holds a vault" in session.task.status_message.text  # type: ignore[union-attr]


async def test_a_reply_echoing_a_vault_value_never_reaches_the_orchestrator() -> None:
    orchestrator, guard, _, _ = world(echo=True)
    session = await orchestrator.submit("book me a room in Paris")
    assert session.task.state is TaskState.FAILED
    text = session.task.status_message.text  # type: ignore[union-attr]
    assert "carries the user's 'name'" in text
    assert PROFILE["name"] not in text
    assert [(r.where, r.field) for r in guard.rejected] == [("outbound reply", "name")]
    assert PROFILE["name"] not in repr(orchestrator.sessions)


async def test_an_orchestrator_reading_the_profile_itself_is_stopped() -> None:
    orchestrator, guard, _, _ = world(profile_skill=True)
    session = await orchestrator.submit("book me a room in Paris")
    assert session.task.state is TaskState.FAILED
    text = session.task.status_message.text  # type: ignore[union-attr]
    assert "cannot read the user's profile" in text
    assert "profile.get" in text
    assert [r.where for r in guard.rejected] == ["outbound reply"]
    assert PROFILE["name"] not in repr(orchestrator.sessions)
