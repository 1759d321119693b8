"""Strict checks of the JSON Schemas a card publishes (a skill's input and output).

The meta-schema alone lets a schema through with keywords it does not know: JSON Schema
ignores them. A YAML flow mapping split at a comma (`{type: string, description: a
city, e.g. Lyon}`) makes exactly that: a keyword named `e.g. Lyon` with no value, which
every validator ignores and a strict client (or a model reading the card) shows as a
property named like a sentence. So a card's schema is checked twice here: against the
Draft 2020-12 meta-schema, and for keywords that are not JSON Schema vocabulary
(annotations of one's own may be written `x-...`).

`schema_problems` and `instance_problems` are pure: each problem is named by its path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# The Draft 2020-12 vocabularies (core, applicator, unevaluated, validation, meta-data,
# format, content) and the two keywords older drafts used that validators still read.
KEYWORDS = frozenset(
    {
        "$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
        "$comment", "$defs", "definitions",
        "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
        "prefixItems", "items", "contains", "properties", "patternProperties",
        "additionalProperties", "propertyNames", "unevaluatedItems", "unevaluatedProperties",
        "type", "const", "enum", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
        "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
        "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties",
        "required", "dependentRequired",
        "title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples",
        "format", "contentEncoding", "contentMediaType", "contentSchema",
    }
)  # fmt: skip
_ONE = ("not", "if", "then", "else", "items", "contains", "additionalProperties",
        "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema")  # fmt: skip
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_NAMED = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def schema_problems(schema: Any) -> list[str]:
    """What is wrong with `schema` as a card's JSON Schema; empty when nothing is."""
    from jsonschema import Draft202012Validator

    if not isinstance(schema, dict | bool):
        return [f"a schema must be a mapping, not {type(schema).__name__}"]
    problems = [
        f"{_where(error.absolute_path)}: {error.message}"
        for error in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema)
    ]
    if problems:  # the walk below assumes a schema the meta-schema accepts
        return problems
    return list(_unknown_keywords(schema, ()))


def instance_problems(schema: dict[str, Any], value: Any) -> list[str]:
    """What is wrong with `value` as an instance of `schema` (a tool's arguments, say),
    each problem named by its path in the value; empty when nothing is."""
    from jsonschema import Draft202012Validator

    return [
        f"{_where(error.absolute_path).replace('(top level)', '(arguments)')}: {error.message}"
        for error in Draft202012Validator(schema).iter_errors(value)
    ]


def _unknown_keywords(schema: Any, path: tuple[str, ...]) -> Iterator[str]:
    if not isinstance(schema, Mapping):
        return
    for keyword, value in schema.items():
        if keyword not in KEYWORDS and not keyword.startswith("x-"):
            hint = (
                " (a YAML flow mapping split at a comma? quote the text that holds it)"
                if value is None or " " in keyword
                else " (annotations of your own are written x-...)"
            )
            yield f"{_where(path)}: {keyword!r} is not a JSON Schema keyword{hint}"
    for keyword in _ONE:
        if keyword in schema:
            yield from _unknown_keywords(schema[keyword], (*path, keyword))
    for keyword in _MANY:
        for index, sub in enumerate(schema.get(keyword) or ()):
            yield from _unknown_keywords(sub, (*path, keyword, str(index)))
    for keyword in _NAMED:
        for name, sub in (schema.get(keyword) or {}).items():
            yield from _unknown_keywords(sub, (*path, keyword, name))


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"
