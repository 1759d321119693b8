"""Turn pydantic's validation errors into lamas's `MalformedMessage`.

Validation happens at trust boundaries (bytes or dicts arriving from outside),
never on every in-process hop; this is the one place that does it.
"""

from __future__ import annotations

import json
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


def parse(model: type[M], data: str | bytes | dict[str, Any], what: str) -> M:
    """Validate `data` (JSON text or a decoded dict) as `model`, or raise `MalformedMessage`."""
    try:
        if isinstance(data, str | bytes):
            return model.model_validate_json(data)
        if not isinstance(data, dict):
            raise MalformedMessage(what, [f"expected a JSON object, got {type(data).__name__}"])
        return model.model_validate(data)
    except ValidationError as error:
        raise MalformedMessage(what, describe(error)) from None
    except json.JSONDecodeError as error:  # pragma: no cover - pydantic reports JSON errors itself
        raise MalformedMessage(what, [f"not JSON: {error}"]) from None
