"""The case studies' scripted set-up: the demo's travel instruction and the slot values a
perfect slot filler would give, as a ScriptedModel responder (no model in the loop)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from lamas.llm.base import ChatMessage
from lamas.runtime.slots import LabelledSlots

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TODAY = dt.date(2026, 11, 25)
TRAVEL = (
    "Book me a train from Paris to Lyon on December 4 in the morning, "
    "and a hotel near Lyon Part-Dieu for two nights"
)
SLOTS: dict[str, dict[str, Any]] = {
    "ticket.search": {
        "origin": "Paris",
        "destination": "Lyon",
        "date": "2026-12-04",
        "time_of_day": "morning",
    },
    "hotel.search": {"city": "Lyon", "check_in": None, "nights": 2, "near": "Lyon Part-Dieu"},
    "song.search": {"mood": "calm", "genre": "jazz", "artist": None, "era": None, "count": 3},
}


_LABELLED = LabelledSlots(SLOTS)


def scripted_slots(messages: list[ChatMessage], schema: dict[str, Any] | None) -> dict[str, Any]:
    """The slot filler's answer for the service named in the prompt, from `SLOTS`."""
    assert schema is not None
    answer: dict[str, Any] = _LABELLED(messages, schema)
    return answer
