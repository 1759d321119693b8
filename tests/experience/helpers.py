"""Building the example networks with a scripted slot filler, for experience tests."""

from __future__ import annotations

from typing import Any

from support.casestudy import EXAMPLES, TODAY, TRAVEL, scripted_slots

from lamas.llm import ScriptedModel
from lamas.llm.base import ChatMessage
from lamas.runtime.netfile import load
from lamas.runtime.orchestrator import Orchestrator

__all__ = ["EXAMPLES", "TODAY", "TRAVEL", "music", "scripted_slots", "travel"]


def travel(embedder: Any, **options: Any) -> Orchestrator:
    spec, network = load(EXAMPLES / "travel" / "network.yaml", external=["orchestrator"])
    orchestrator = Orchestrator(
        network,
        ScriptedModel(responder=scripted_slots),
        embedder,
        agent_id="orchestrator",
        today=TODAY,
        **options,
    )
    card = next(a.card for a in spec.agents if a.card.id == "orchestrator")
    orchestrator.join(card)
    return orchestrator


def music(embedder: Any, replicas: int = 2, **options: Any) -> Orchestrator:
    """The music network with its song agent as `replicas` replicas (songs-1, songs-2...)."""
    from lamas.runtime.netfile import build, load_spec

    spec = load_spec(EXAMPLES / "music" / "network.yaml")
    agents = [
        a.model_copy(update={"replicas": replicas}) if a.card.id == "songs" else a
        for a in spec.agents
    ]
    spec = spec.model_copy(update={"agents": agents})
    network = build(spec, base_dir=EXAMPLES / "music", external=["music-orchestrator"])

    def jazz(messages: list[ChatMessage], schema: dict[str, Any] | None) -> dict[str, Any]:
        assert schema is not None
        wanted = {"genre": "jazz", "mood": "calm"}
        return {name: wanted.get(name) for name in schema["properties"]}

    orchestrator = Orchestrator(
        network,
        ScriptedModel(responder=jazz),
        embedder,
        agent_id="music-orchestrator",
        today=TODAY,
        **options,
    )
    card = next(a.card for a in spec.agents if a.card.id == "music-orchestrator")
    orchestrator.join(card)
    return orchestrator
