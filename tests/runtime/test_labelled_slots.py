"""The scripted slot filler that knows the answers, against the real slot filler's prompt."""

from __future__ import annotations

import datetime as dt

from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.protocol import Skill
from lamas.runtime.slots import LabelledSlots, SlotFiller, asked_service

SEARCH = Skill(
    name="ticket.search",
    description="find trains",
    input_schema={
        "type": "object",
        "properties": {"origin": {"type": "string"}, "destination": {"type": "string"}},
    },
)


async def test_it_answers_the_service_the_slot_fillers_prompt_names() -> None:
    labelled = LabelledSlots({"ticket.search": {"origin": "Paris"}})
    model = ScriptedModel(responder=labelled)
    filler = SlotFiller(model, today=dt.date(2026, 11, 25))
    filled = await filler.fill(SEARCH, "a train from Paris")
    assert asked_service(model.calls[-1][0]) == "ticket.search"
    assert filled.values.get("origin") == "Paris"
    assert filled.values.get("destination") is None


def test_a_request_naming_no_service_gets_nulls() -> None:
    labelled = LabelledSlots({"ticket.search": {"origin": "Paris"}})
    messages = [ChatMessage("user", "no service line here")]
    assert asked_service(messages) == ""
    assert labelled(messages, SEARCH.input_schema) == {"origin": None, "destination": None}
