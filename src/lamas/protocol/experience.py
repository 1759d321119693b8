"""Experience records: what happened in one step of one task, as data (paper §2.3).

Every step an agent serves leaves one `ExperienceRecord`: the user's instruction, the
plan step, who served it and with which strategy (prompt version, tools, how it was
chosen), the outcome (and the user's feedback, when given), the resources it used, the
credit it earned on settlement, and the agents it talked to meanwhile. Pattern
extraction, the shared insight pool, the router's bandit, few-shot retrieval and the
training-set export are all built from these records alone.

Pure data: no I/O. Money is a decimal string, exact on every store.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Strategy(BaseModel):
    """How the step was served: the prompt version and tools of the agent that served it,
    and how that agent was chosen (consensus, a learned bandit, the only provider, or the
    vendor of the upstream offer)."""

    model_config = _FROZEN
    prompt_version: str = "default"
    tools: tuple[str, ...] = ()
    selection: str = "only"

    @property
    def key(self) -> str:
        tools = "+".join(self.tools) or "no-tools"
        return f"{self.prompt_version}|{tools}|{self.selection}"


class StepOutcome(BaseModel):
    model_config = _FROZEN
    ok: bool
    error: str | None = None
    feedback: float | None = Field(default=None, ge=-1.0, le=1.0)
    """The user's verdict on the task, -1 (bad) to 1 (good), when they gave one."""
    feedback_note: str | None = None


class StepResources(BaseModel):
    model_config = _FROZEN
    seconds: float = Field(default=0.0, ge=0)
    calls: int = Field(default=0, ge=0)
    """Skill calls made on the step's behalf (the step's own and its subcontracts)."""
    cost: Decimal = Decimal("0")
    """What those calls cost at the callees' list prices."""
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


class Interaction(BaseModel):
    model_config = _FROZEN
    sender: str
    recipient: str
    skill: str | None = None


class ExperienceRecord(BaseModel):
    model_config = _FROZEN
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    task_id: str
    instruction: str
    """The user's words for the whole task."""
    step_id: str
    capability: str
    step_instruction: str
    """The clause of the instruction this step serves."""
    agent: str
    entity: str = ""
    strategy: Strategy = Field(default_factory=Strategy)
    inputs: dict[str, Any] = Field(default_factory=dict)
    """Everything the serving agent was sent (filled values, upstream outputs, and in a
    centralized network the profile fields the orchestrator added)."""
    filled: dict[str, Any] = Field(default_factory=dict)
    """What the orchestrator's slot filler took from the user's words for this step
    (empty for a step whose inputs all came from earlier steps)."""
    output: dict[str, Any] = Field(default_factory=dict)
    outcome: StepOutcome
    resources: StepResources = Field(default_factory=StepResources)
    credit: Decimal | None = None
    """The agent's Shapley credit for the task, split evenly over its steps in it; None
    until the task is settled (a failed task is never settled)."""
    interactions: tuple[Interaction, ...] = ()
    at: float = 0.0
    """When the step ended, seconds since the epoch."""

    @property
    def slot_answer(self) -> dict[str, Any]:
        """What a slot filler should have answered: the filled values, else the inputs."""
        return self.filled or self.inputs

    @property
    def kind(self) -> str:
        """The instruction's kind, for strategy-versus-instruction patterns."""
        return instruction_kind(self.instruction)


_KINDS = (
    ("booking", r"\b(book|reserve|buy|get me)\b"),
    ("search", r"\b(find|search|show|what|which|how much|are there|list)\b"),
    ("directions", r"\b(directions|route|way to|get from|how do i get|navigate)\b"),
    ("playback", r"\b(play|listen|put on|queue)\b"),
)


def instruction_kind(instruction: str) -> str:
    """A coarse kind of instruction from its verbs ("booking+directions", "search", ...):
    which strategies work is asked per kind, not per sentence."""
    folded = instruction.casefold()
    kinds = [name for name, pattern in _KINDS if re.search(pattern, folded)]
    return "+".join(kinds) or "other"


# Chat-format training data: the shapes `lamas experience export` writes, one JSON object
# a line. Published as JSON Schemas so any trainer's loader can check a file first.

_CHAT_MESSAGE = {
    "type": "object",
    "properties": {
        "role": {"enum": ["system", "user", "assistant"]},
        "content": {"type": "string", "minLength": 1},
    },
    "required": ["role", "content"],
    "additionalProperties": False,
}

SFT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lamas SFT example (chat format)",
    "type": "object",
    "properties": {
        "messages": {
            "type": "array",
            "items": _CHAT_MESSAGE,
            "minItems": 3,
            "prefixItems": [
                {"properties": {"role": {"const": "system"}}},
                {"properties": {"role": {"const": "user"}}},
            ],
        },
        "metadata": {"type": "object"},
    },
    "required": ["messages"],
    "additionalProperties": False,
}

_ASSISTANT_TURN = {
    **_CHAT_MESSAGE,
    "properties": {"role": {"const": "assistant"}, "content": {"type": "string", "minLength": 1}},
}

DPO_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lamas DPO preference pair (chat format)",
    "type": "object",
    "properties": {
        "prompt": {"type": "array", "items": _CHAT_MESSAGE, "minItems": 2},
        "chosen": {"type": "array", "items": _ASSISTANT_TURN, "minItems": 1, "maxItems": 1},
        "rejected": {"type": "array", "items": _ASSISTANT_TURN, "minItems": 1, "maxItems": 1},
        "metadata": {"type": "object"},
    },
    "required": ["prompt", "chosen", "rejected"],
    "additionalProperties": False,
}
