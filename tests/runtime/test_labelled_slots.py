"""The scripted slot filler that knows the answers, against the real slot filler's prompt."""

from __future__ import annotations

import datetime as dt

from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.protocol import Skill
from lamas.runtime.slots import PROFILE_NOTE, LabelledSlots, SlotFiller, asked_service

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


SONGS = Skill(
    name="song.search",
    description="find songs",
    input_schema={
        "type": "object",
        "properties": {
            "artist": {"type": "string"},
            "genre": {"type": "string"},
            "mood": {"type": "string", "enum": ["happy", "calm", "sad"]},
            "count": {"type": "integer"},
            "max_duration_s": {"type": "integer"},
            "exclude": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["artist"],
    },
)


async def test_an_optional_input_the_user_never_said_is_the_models_taste_and_dropped() -> None:
    guess = {
        "artist": "Bob",
        "genre": "jazz",
        "mood": "calm",
        "count": 5,
        "max_duration_s": 600,
        "exclude": ["s001"],
    }
    filler = SlotFiller(ScriptedModel(responder=lambda m, s: guess), today=dt.date(2026, 11, 25))
    profile = '{"favourite_genres": ["jazz"], "preferences": {"max_duration_s": 600}}'
    filled = await filler.fill(SONGS, "play some Bob", context=[f"{PROFILE_NOTE}{profile}"])
    # Required and said: kept. Said nowhere (genre, mood, count, an invented list): dropped.
    # The profile's own value for an input of its name (max_duration_s) stands.
    assert filled.values == {"artist": "Bob", "max_duration_s": 600}
    assert set(filled.dropped) == {"genre", "mood", "count", "exclude"}
    said = await filler.fill(SONGS, "play 5 calm jazz songs by Bob")
    assert said.values == {"artist": "Bob", "genre": "jazz", "mood": "calm", "count": 5}
