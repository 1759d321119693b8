"""Tools: typed Python functions an agent's model can call.

`@tool` turns a function into a `Tool` whose JSON Schema comes from its
signature and whose arguments are validated before the call. A tool's error
or timeout comes back as a `ToolResult` the model can read: it never crashes
the agent.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from lamas import telemetry
from lamas.errors import ToolError
from lamas.protocol._validation import describe

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a call produced, or why it failed (`ok` tells which)."""

    tool: str
    ok: bool
    value: Any = None
    error: str | None = None
    seconds: float = 0.0

    def for_model(self) -> str:
        """The result as the model sees it."""
        if self.ok:
            return f"{self.tool} returned: {self.value!r}"
        return f"{self.tool} failed: {self.error}"


class Tool:
    """A callable with a name, a description and a JSON Schema for its arguments."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sensitive: bool = False,
    ) -> None:
        self.function = function
        # A sensitive tool acts on the world (pays, sends data out): the ReAct loop lets
        # untrusted content drive it only when the user's instruction asks for it.
        self.sensitive = sensitive
        self.name = name or function.__name__
        doc = inspect.getdoc(function) or ""
        self.description = description or doc.split("\n\n")[0].strip() or self.name
        if not self.description:
            raise ToolError(f"tool {self.name!r} needs a description (a docstring)")
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(function)
        self.arguments: type[BaseModel] = _arguments_model(function, self.name)

    @property
    def schema(self) -> dict[str, Any]:
        """JSON Schema of the arguments object."""
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        return schema

    async def invoke(self, arguments: dict[str, Any]) -> ToolResult:
        """Validate `arguments`, call the tool within its timeout, and report what happened."""
        if telemetry.TRACER is None:
            return await self._invoke(arguments)
        with telemetry.tool_call(self.name) as span:
            result = await self._invoke(arguments)
            span.set_attribute("lamas.tool.ok", result.ok)
            if result.error:
                span.set_attribute("lamas.tool.error", result.error[:500])
            return result

    async def _invoke(self, arguments: dict[str, Any]) -> ToolResult:
        started = time.perf_counter()

        def result(ok: bool, value: Any = None, error: str | None = None) -> ToolResult:
            return ToolResult(self.name, ok, value, error, time.perf_counter() - started)

        try:
            parsed = self.arguments.model_validate(arguments)
        except ValidationError as invalid:
            return result(False, error="invalid arguments: " + "; ".join(describe(invalid)))
        kwargs = {field: getattr(parsed, field) for field in type(parsed).model_fields}
        try:
            if self.is_async:
                value = await asyncio.wait_for(self.function(**kwargs), self.timeout)
            else:
                value = await asyncio.wait_for(
                    asyncio.to_thread(self.function, **kwargs), self.timeout
                )
        except TimeoutError:
            return result(False, error=f"timed out after {self.timeout:g} s")
        except Exception as error:  # the model is told; the agent goes on
            return result(False, error=f"{type(error).__name__}: {error}")
        return result(True, value=value)


def _arguments_model(function: Callable[..., Any], name: str) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    hints = inspect.get_annotations(function, eval_str=True)
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ToolError(f"tool {name!r}: *args and **kwargs cannot be described by a schema")
        if parameter.name not in hints:
            raise ToolError(f"tool {name!r}: parameter {parameter.name!r} needs a type annotation")
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (hints[parameter.name], default)
    model: type[BaseModel] = create_model(
        f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    sensitive: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    sensitive: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Decorator: `@tool`, `@tool(timeout=5)` or `@tool(sensitive=True)` turns a typed
    function into a `Tool`."""

    def wrap(fn: Callable[..., Any]) -> Tool:
        return Tool(fn, name=name, description=description, timeout=timeout, sensitive=sensitive)

    return wrap(function) if function is not None else wrap


class ToolRegistry:
    """The tools one agent may use, by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for each in tools:
            self.add(each)

    def add(self, each: Tool) -> None:
        if each.name in self._tools:
            raise ToolError(f"a tool named {each.name!r} is already registered")
        self._tools[each.name] = each

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Any:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Call tool `name`; an unknown name is a failed result, not an exception."""
        found = self._tools.get(name)
        if found is None:
            known = ", ".join(self._tools) or "none"
            return ToolResult(name, False, error=f"no tool named {name!r} (tools: {known})")
        return await found.invoke(arguments)
