"""The published JSON Schema of the wire types."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from lamas.errors import ConfigError
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.schema import WIRE_TYPES, json_schema

ALL = ["envelope", "message", "agent-card", "task", "plan", "ledger-entry", "network"]


def test_all_wire_types_are_published() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["types"]) == set(ALL)
    assert set(WIRE_TYPES) == set(ALL)
    json.dumps(schema)  # serialisable as it is printed


@pytest.mark.parametrize("name", ALL)
def test_each_schema_is_valid_json_schema(name: str) -> None:
    schema = json_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema == json_schema()["types"][name]
    assert schema["type"] == "object"


def test_envelope_priority_is_bounded() -> None:
    schema = json_schema("envelope")
    priority = schema["properties"]["priority"]
    assert priority["maximum"] == 9
    assert priority["minimum"] == 0
    assert "message" in schema["required"]


def test_part_kinds_are_in_the_message_schema() -> None:
    defs = json_schema("message")["$defs"]
    assert {"TextPart", "DataPart", "FilePart", "SealedRef", "FileContent"} <= set(defs)


def test_sealed_ref_schema_forbids_extra_fields() -> None:
    sealed = json_schema("envelope")["$defs"]["SealedRef"]
    assert sealed["additionalProperties"] is False
    assert "value" not in sealed["properties"]


def test_schema_agrees_with_the_models() -> None:
    validator = Draft202012Validator(json_schema("envelope"))
    good = json.loads(
        Envelope(sender="a", recipient="b", message=Message.of_text("hi")).model_dump_json()
    )
    assert list(validator.iter_errors(good)) == []
    bad = {**good, "priority": 10}
    assert [e.validator for e in validator.iter_errors(bad)] == ["maximum"]


def test_unknown_name_raises_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        json_schema("ledger")
    assert "'ledger'" in str(caught.value)
    assert "envelope" in str(caught.value)
