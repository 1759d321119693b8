"""The case studies' scripted set-up: the demo's travel instruction and the slot values a
perfect slot filler would give, as a ScriptedModel responder (no model in the loop)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from lamas.agent.embeddings import Embedder
from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.protocol import Envelope
from lamas.runtime.netfile import load
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.slots import LabelledSlots
from lamas.runtime.today import stamp_today

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


def build(
    name: str, orchestrator_id: str, embedder: Embedder, **options: Any
) -> tuple[Orchestrator, list[Envelope]]:
    """The example network `name` with a scripted-slots orchestrator joined as
    `orchestrator_id`, and the list every envelope on its transport is appended to."""
    spec, network = load(EXAMPLES / name / "network.yaml", external=[orchestrator_id])
    seen: list[Envelope] = []
    network.transport.observers.append(seen.append)
    # The vendors refuse past dates: they are told the task's today, not the real one.
    middleware = [stamp_today(TODAY), *options.pop("middleware", ())]
    orchestrator = Orchestrator(
        network,
        ScriptedModel(responder=scripted_slots),
        embedder,
        agent_id=orchestrator_id,
        today=TODAY,
        middleware=middleware,
        **options,
    )
    card = next(a.card for a in spec.agents if a.card.id == orchestrator_id)
    network.add(orchestrator.agent(card))
    return orchestrator, seen
