"""The JSON Schema of the wire types, as `lamas schema` prints it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from lamas.protocol.cards import AgentCard
from lamas.protocol.ledger import LedgerEntry
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.network import NetworkSpec
from lamas.protocol.plan import Plan
from lamas.protocol.tasks import Task

WIRE_TYPES: dict[str, type[BaseModel]] = {
    "envelope": Envelope,
    "message": Message,
    "agent-card": AgentCard,
    "task": Task,
    "plan": Plan,
    "ledger-entry": LedgerEntry,
    "network": NetworkSpec,
}


def json_schema(name: str | None = None) -> dict[str, Any]:
    """The schema of one wire type by name, or of all of them under `$defs`-style keys."""
    if name is not None:
        if name not in WIRE_TYPES:
            from lamas.errors import ConfigError

            raise ConfigError(f"unknown wire type {name!r}; choose one of {', '.join(WIRE_TYPES)}")
        return WIRE_TYPES[name].model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "lamas wire types",
        "types": {key: model.model_json_schema() for key, model in WIRE_TYPES.items()},
    }
