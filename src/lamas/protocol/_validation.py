"""Turn pydantic's validation errors into lamas's `MalformedMessage`.

Validation happens at trust boundaries (bytes or dicts arriving from outside),
never on every in-process hop; this is the one place that does it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from lamas.errors import MalformedMessage

M = TypeVar("M", bound=BaseModel)


def describe(error: ValidationError) -> list[str]:
    """One line per problem: `field.path: what is wrong`."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        problems.append(f"{where}: {item['msg']}")
    return problems


# The setters of BaseModel's slots, bound once: `trusted` runs on every in-process reply.
_new = object.__new__
_set = object.__setattr__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def trusted(model: type[M], values: dict[str, Any], fields_set: set[str] | None = None) -> M:
    """An instance of `model` from `values` already known valid, every field given.

    What pydantic's `model_construct` ends with, without its per-field Python loop (which
    costs more than validating). Only for values that are valid by construction (a text
    part of a str) or were validated already (a ledger entry the ledger just wrote):
    nothing is checked here.
    """
    instance = _new(model)
    _set(instance, "__dict__", values)
    _set_fields_set(instance, fields_set or set(values))
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


def parse(model: type[M], data: str | bytes | dict[str, Any], what: str) -> M:
    """Validate `data` (JSON text or a decoded dict) as `model`, or raise `MalformedMessage`."""
    try:
        if isinstance(data, str | bytes):
            return model.model_validate_json(data)
        if not isinstance(data, dict):
            raise MalformedMessage(what, [f"expected a JSON object, got {type(data).__name__}"])
        return model.model_validate(data)
    except ValidationError as error:  # bad JSON too: pydantic reports it as a ValidationError
        raise MalformedMessage(what, describe(error)) from None
