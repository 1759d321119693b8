"""The clerk: answers with the town hall's opening hours, no model needed."""

from typing import Any

from lamas import AgentCard, Handler, Message


def handler(card: AgentCard) -> Handler:
    async def hours(envelope: Any, context: Any) -> Message:
        return Message.of_data({"hours": "9:00-17:00, Monday to Friday"})

    return hours


def agent() -> Any:
    """For `lamas serve tests/data/clerk/clerk.py:agent` and `lamas keys`."""
    from pathlib import Path

    from lamas import Agent
    from lamas.runtime.netfile import load_spec

    spec = load_spec(Path(__file__).with_name("network.yaml"))
    card = next(a.card for a in spec.agents if a.card.id == "clerk")
    return Agent(card, handler(card))
