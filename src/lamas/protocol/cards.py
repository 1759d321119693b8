"""Agent cards: who an agent is, who owns it, what it can do and what it charges.

A superset of the A2A AgentCard; served at `/.well-known/agent-card.json`
in networked mode.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lamas.protocol._validation import parse
from lamas.protocol.messages import AGENT_ID_PATTERN, Wire

SKILL_NAME_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"


def _check_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # Imported here: jsonschema costs ~60 ms to import and only cards need it.
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise ValueError(f"not a valid JSON Schema: {error.message}") from None
    return schema


class Skill(Wire):
    """One capability an agent offers, with the JSON Schema of its input and output."""

    name: str = Field(pattern=SKILL_NAME_PATTERN)
    description: str = Field(min_length=1)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    tags: tuple[str, ...] = ()
    examples: tuple[str, ...] = Field(
        default=(), description="example requests this skill serves (A2A AgentSkill.examples)"
    )
    requires: tuple[str, ...] = Field(
        default=(),
        description="skills whose output this skill's input is built from (e.g. book <- search)",
    )
    vault_fields: tuple[str, ...] = Field(
        default=(),
        description="user-vault fields each call needs; granted as sealed refs, never as values",
    )
    compensation: str | None = Field(
        default=None,
        pattern=SKILL_NAME_PATTERN,
        description="the skill of the same agent that undoes this one (ticket.book -> "
        "ticket.cancel), asked with the booking's idempotency key when its task cannot complete",
    )
    keep_alone: bool = Field(
        default=False,
        description="when its task cannot complete, ask the user whether to keep this booking "
        "instead of undoing it (it is worth having on its own)",
    )

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _is_json_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        return _check_json_schema(schema)


VOCABULARY_KEYWORD = "x-vocabulary"
"""The JSON Schema extension keyword a skill's input property uses to name the card
vocabulary (or list of vocabularies) its values come from (docs/vocabulary.md)."""


class PublishedVocabulary(Wire):
    """What an agent knows for one kind of name (cities, stations, genres...): the
    canonical names, the other spellings it accepts for them, and (for places) the
    name each one lies within. Names and aliases only: never the data behind them."""

    kind: str = Field(min_length=1, description="what the names are, e.g. city, station, genre")
    names: tuple[str, ...] = Field(min_length=1)
    aliases: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="a name -> the other spellings it goes by"
    )
    within: dict[str, str] = Field(
        default_factory=dict, description="a name -> the name it lies within (a station's city)"
    )

    @model_validator(mode="after")
    def _aliases_name_names(self) -> PublishedVocabulary:
        known = set(self.names)
        dangling = sorted(
            {f"{n} (aliases)" for n in self.aliases if n not in known}
            | {f"{n} (within)" for n in self.within if n not in known}
        )
        if dangling:
            raise ValueError(
                f"vocabulary {self.kind!r} refers to unknown names: " + ", ".join(dangling[:5])
            )
        return self


def vocabulary_refs(schema: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """The vocabularies each top-level input property names with `x-vocabulary`."""
    refs: dict[str, tuple[str, ...]] = {}
    for name, prop in (schema.get("properties") or {}).items():
        ref = prop.get(VOCABULARY_KEYWORD) if isinstance(prop, dict) else None
        if ref is None:
            items = prop.get("items") if isinstance(prop, dict) else None
            ref = items.get(VOCABULARY_KEYWORD) if isinstance(items, dict) else None
        if isinstance(ref, str):
            refs[name] = (ref,)
        elif isinstance(ref, list) and all(isinstance(r, str) for r in ref):
            refs[name] = tuple(ref)
        elif ref is not None:
            raise ValueError(f"{VOCABULARY_KEYWORD} of {name!r} must be a name or a list of names")
    return refs


PriceUnit = Literal["call", "1k_tokens", "second", "month"]


class Price(Wire):
    """What one skill costs, per unit of use."""

    skill: str
    amount: Decimal = Field(ge=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    unit: PriceUnit = "call"


class AgentCard(Wire):
    """An agent's public identity: owner entity, skills, prices, private fields it may ask for."""

    id: str = Field(pattern=AGENT_ID_PATTERN)
    name: str = Field(min_length=1)
    description: str = ""
    entity: str = Field(min_length=1, description="the company, team or person that owns the agent")
    version: str = "1.0.0"
    url: str | None = Field(default=None, description="endpoint in networked mode")
    skills: tuple[Skill, ...] = ()
    prices: tuple[Price, ...] = ()
    vault_fields: tuple[str, ...] = Field(
        default=(), description="user-vault fields this agent may be granted"
    )
    vocabularies: dict[str, PublishedVocabulary] = Field(
        default_factory=dict,
        description="what the agent's skills know by name, for callers to map a user's words "
        "onto before calling; input properties name one with x-vocabulary",
    )
    signature: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AgentCard:
        names = [s.name for s in self.skills]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"skill names must be unique; repeated: {', '.join(duplicates)}")
        unknown = sorted({p.skill for p in self.prices} - set(names))
        if unknown:
            raise ValueError(f"prices name skills the card does not offer: {', '.join(unknown)}")
        for skill in self.skills:
            for slot, refs in vocabulary_refs(skill.input_schema).items():
                absent = [r for r in refs if r not in self.vocabularies]
                if absent:
                    raise ValueError(
                        f"skill {skill.name!r} input {slot!r} names vocabularies the card does "
                        f"not publish: {', '.join(absent)}"
                    )
            beyond = sorted(set(skill.vault_fields) - set(self.vault_fields))
            if beyond:
                raise ValueError(
                    f"skill {skill.name!r} needs vault fields the card does not declare in "
                    f"vault_fields: {', '.join(beyond)}"
                )
        return self

    def skill(self, name: str) -> Skill | None:
        return next((s for s in self.skills if s.name == name), None)

    def price(self, skill: str) -> Price | None:
        return next((p for p in self.prices if p.skill == skill), None)

    @model_validator(mode="after")
    def _compensations_offered(self) -> AgentCard:
        names = {s.name for s in self.skills}
        missing = [
            f"{s.name} -> {s.compensation}"
            for s in self.skills
            if s.compensation and s.compensation not in names
        ]
        if missing:
            raise ValueError(f"compensating skills the card does not offer: {', '.join(missing)}")
        return self

    @classmethod
    def parse(cls, data: str | bytes | dict[str, Any]) -> AgentCard:
        return parse(cls, data, "agent card")
