"""Tools: schemas from signatures, argument validation, failures as results, the registry."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import time
from typing import Any

import pytest

from lamas.agent.tools import Tool, ToolRegistry, ToolResult, tool
from lamas.cli.chat import calculator, days_between
from lamas.errors import ToolError


def make_booking_tool(calls: list[dict[str, Any]]) -> Tool:
    @tool
    def book(city: str, check_in: dt.date, nights: int = 1) -> str:
        """Book a room in a city.

        Longer text that is not part of the description.
        """
        calls.append({"city": city, "check_in": check_in, "nights": nights})
        return f"{city}:{check_in.isoformat()}:{nights}"

    return book


# --- schema -----------------------------------------------------------------


def test_schema_comes_from_the_signature() -> None:
    book = make_booking_tool([])
    schema = book.schema
    assert book.name == "book"
    assert book.description == "Book a room in a city."
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"city", "check_in", "nights"}
    assert sorted(schema["required"]) == ["check_in", "city"]
    assert schema["properties"]["city"]["type"] == "string"
    assert schema["properties"]["check_in"] == {
        "format": "date",
        "title": "Check In",
        "type": "string",
    }
    assert schema["properties"]["nights"]["type"] == "integer"
    assert schema["properties"]["nights"]["default"] == 1
    assert schema["additionalProperties"] is False
    assert "title" not in schema


def test_decorator_with_options_overrides_name_description_and_timeout() -> None:
    @tool(name="adder", description="adds two numbers", timeout=2.5)
    def add(a: int, b: int) -> int:
        return a + b

    assert isinstance(add, Tool)
    assert (add.name, add.description, add.timeout) == ("adder", "adds two numbers", 2.5)
    assert add.is_async is False


def test_a_tool_without_docstring_falls_back_to_its_name() -> None:
    @tool
    def nameless(x: int) -> int:
        return x

    assert nameless.description == "nameless"


def test_missing_annotation_is_refused_at_decoration() -> None:
    def untyped(x, y: int) -> int:  # type: ignore[no-untyped-def]
        """Untyped."""
        return int(x) + y

    with pytest.raises(ToolError, match="'x' needs a type annotation"):
        tool(untyped)


@pytest.mark.parametrize(
    "function",
    [
        pytest.param(lambda: _star_args, id="args"),
        pytest.param(lambda: _star_kwargs, id="kwargs"),
    ],
)
def test_star_args_are_refused_at_decoration(function: Any) -> None:
    with pytest.raises(ToolError, match=r"\*args and \*\*kwargs"):
        tool(function())


def _star_args(*values: int) -> int:
    """Sum."""
    return sum(values)


def _star_kwargs(**values: int) -> int:
    """Sum."""
    return sum(values.values())


# --- invocation -------------------------------------------------------------


async def test_valid_arguments_are_parsed_and_the_function_called() -> None:
    calls: list[dict[str, Any]] = []
    book = make_booking_tool(calls)
    result = await book.invoke({"city": "Lyon", "check_in": "2025-03-04"})
    assert result.ok, result.error
    assert result.value == "Lyon:2025-03-04:1"
    assert result.error is None
    assert result.tool == "book"
    assert result.seconds >= 0
    assert calls == [{"city": "Lyon", "check_in": dt.date(2025, 3, 4), "nights": 1}]
    assert result.for_model() == "book returned: 'Lyon:2025-03-04:1'"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        pytest.param(
            {"city": "Lyon", "check_in": "2025-03-04", "nights": "many"}, "nights", id="type"
        ),
        pytest.param({"city": "Lyon", "check_in": "not a date"}, "check_in", id="date"),
        pytest.param({"check_in": "2025-03-04"}, "city", id="missing"),
        pytest.param({"city": 7, "check_in": "2025-03-04"}, "city", id="int-for-str"),
        pytest.param({"city": "Lyon", "check_in": "2025-03-04", "pets": 2}, "pets", id="extra"),
    ],
)
async def test_invalid_arguments_fail_without_calling(
    arguments: dict[str, Any], field: str
) -> None:
    calls: list[dict[str, Any]] = []
    book = make_booking_tool(calls)
    result = await book.invoke(arguments)
    assert result.ok is False
    assert result.value is None
    assert result.error is not None
    assert result.error.startswith("invalid arguments:")
    assert field in result.error
    assert calls == []
    assert result.for_model().startswith("book failed: invalid arguments")


async def test_async_tool_is_awaited() -> None:
    @tool
    async def echo(text: str) -> str:
        """Echo back."""
        await asyncio.sleep(0)
        return text.upper()

    assert echo.is_async is True
    result = await echo.invoke({"text": "hi"})
    assert result == ToolResult("echo", True, "HI", None, result.seconds)


async def test_sync_tool_runs_off_the_event_loop() -> None:
    import threading

    seen: list[int] = []

    @tool
    def where() -> int:
        """Which thread."""
        seen.append(threading.get_ident())
        return 1

    result = await where.invoke({})
    assert result.ok
    assert len(seen) == 1
    assert seen[0] != threading.get_ident()


async def test_a_raising_tool_is_a_failed_result() -> None:
    @tool
    def broken(x: int) -> int:
        """Always fails."""
        raise RuntimeError(f"cannot handle {x}")

    result = await broken.invoke({"x": 3})
    assert result.ok is False
    assert result.error == "RuntimeError: cannot handle 3"
    assert result.for_model() == "broken failed: RuntimeError: cannot handle 3"


async def test_an_async_tool_that_raises_is_a_failed_result() -> None:
    @tool
    async def broken() -> int:
        """Always fails."""
        raise KeyError("gone")

    result = await broken.invoke({})
    assert result.ok is False
    assert result.error is not None
    assert "KeyError" in result.error
    assert "gone" in result.error


async def test_a_slow_async_tool_times_out() -> None:
    finished: list[bool] = []

    @tool(timeout=0.05)
    async def slow() -> str:
        """Sleeps too long."""
        await asyncio.sleep(1)
        finished.append(True)
        return "late"

    started = time.perf_counter()
    result = await slow.invoke({})
    elapsed = time.perf_counter() - started
    assert result.ok is False
    assert result.error is not None
    assert "timed out" in result.error
    assert "0.05" in result.error
    assert elapsed < 0.9
    assert finished == []


# --- registry ---------------------------------------------------------------


def test_registry_refuses_duplicate_names() -> None:
    first = make_booking_tool([])
    second = make_booking_tool([])
    registry = ToolRegistry([first])
    with pytest.raises(ToolError, match="'book' is already registered"):
        registry.add(second)
    assert len(registry) == 1
    assert list(registry) == [first]


def test_registry_membership_and_names() -> None:
    registry = ToolRegistry([calculator, days_between])
    assert registry.names == ["calculator", "days_between"]
    assert "calculator" in registry
    assert "nope" not in registry
    assert len(registry) == 2


async def test_registry_call_dispatches_by_name() -> None:
    registry = ToolRegistry([calculator])
    result = await registry.call("calculator", {"expression": "1 + 2"})
    assert result.ok
    assert result.value == 3.0


async def test_unknown_tool_is_a_failed_result_listing_known_tools() -> None:
    registry = ToolRegistry([calculator, days_between])
    result = await registry.call("weather", {"city": "Paris"})
    assert result.ok is False
    assert result.tool == "weather"
    assert result.error is not None
    assert "'weather'" in result.error
    assert "calculator" in result.error
    assert "days_between" in result.error


async def test_unknown_tool_on_an_empty_registry_says_none() -> None:
    result = await ToolRegistry().call("x", {})
    assert result.ok is False
    assert result.error is not None
    assert "none" in result.error


# --- the example tools of `lamas chat` ----------------------------------------


async def test_calculator_multiplies() -> None:
    result = await calculator.invoke({"expression": "17 * 23"})
    assert result.ok
    assert result.value == 391


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(2 + 3) * 4", 20.0),
        ("7 // 2", 3.0),
        ("7 % 4", 3.0),
        ("-3 + +1", -2.0),
        ("2 ** 10", 1024.0),
    ],
)
async def test_calculator_operators(expression: str, expected: float) -> None:
    result = await calculator.invoke({"expression": expression})
    assert result.ok, result.error
    assert result.value == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os')", "not arithmetic"),
        ("open('/etc/passwd').read()", "not arithmetic"),
        ("'a' * 3", "not arithmetic"),
        ("2 ** 5000", "exponent 5000 is too large"),
        ("9 ** 2000", "would exceed 4096 bits"),
        ("1 / 0", "ZeroDivisionError"),
        ("1 +", "SyntaxError"),
    ],
)
async def test_calculator_refuses_what_is_not_safe_arithmetic(expression: str, reason: str) -> None:
    result = await calculator.invoke({"expression": expression})
    assert result.ok is False
    assert result.error is not None
    assert reason in result.error


def test_calculator_refuses_nested_huge_powers_quickly() -> None:
    code = (
        "import sys\n"
        "from lamas.cli.chat import calculator\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    calculator.function('(((9 ** 100) ** 100) ** 100) ** 100')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error, flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pytest.fail("calculator was still computing after 2 s")
        assert process.returncode == 0
    finally:
        process.kill()
        process.communicate()


async def test_days_between_iso_dates() -> None:
    result = await days_between.invoke({"start": "2024-02-27", "end": "2024-03-02"})
    assert result.ok, result.error
    assert result.value == 4  # 2024 is a leap year
    backwards = await days_between.invoke({"start": "2025-01-10", "end": "2025-01-01"})
    assert backwards.value == -9


async def test_days_between_refuses_a_non_date() -> None:
    result = await days_between.invoke({"start": "yesterday", "end": "2025-01-01"})
    assert result.ok is False
    assert result.error is not None
    assert "start" in result.error
