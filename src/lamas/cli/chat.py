"""`lamas chat`: one agent with two example tools, answering on an embedded model.

The question goes through the whole stack: an envelope on a `Network` to an
`Agent` whose handler runs the ReAct loop with schema-constrained tool calls.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
from collections.abc import Callable
from typing import Any

from lamas.agent import Agent, ReActLoop, ReasoningResult, ShortTermMemory, ToolRegistry, tool
from lamas.llm.base import ChatMessage, ChatModel
from lamas.protocol import AgentCard, Context, Envelope, Message, Skill

_OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


@tool
def calculator(expression: str) -> float:
    """Evaluate an arithmetic expression such as '17 * 23 + 4' (+ - * / // % ** and brackets)."""

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Pow):
                _check_power(left, right)
            return _OPERATORS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.operand))
        raise ValueError(f"not arithmetic: {ast.unparse(node)!r}")

    return float(value(ast.parse(expression, mode="eval").body))


# Integer powers are exact and unbounded in Python: a nested power written by a model
# could run for minutes in a thread no timeout can stop. Results past this are refused.
MAX_RESULT_BITS = 4096


def _check_power(base: Any, exponent: Any) -> None:
    if abs(exponent) > MAX_RESULT_BITS:
        raise ValueError(f"exponent {exponent} is too large")
    if abs(base) > 1 and math.log2(abs(base)) * abs(exponent) > MAX_RESULT_BITS:
        raise ValueError(f"result of {base} ** {exponent} would exceed {MAX_RESULT_BITS} bits")


@tool
def days_between(start: dt.date, end: dt.date) -> int:
    """Count the days from one date to another (dates as YYYY-MM-DD)."""
    return (end - start).days


ASSISTANT_CARD = AgentCard(
    id="assistant",
    name="Assistant",
    description="Answers questions, computing with a calculator and a date tool.",
    entity="lamas",
    skills=(
        Skill(
            name="answer",
            description="answer a question in plain language",
            input_schema={
                "type": "object",
                "properties": {"question": {"type": "string"}},
                "required": ["question"],
            },
        ),
    ),
)


def assistant(
    model: ChatModel, *, max_steps: int = 6, memory_tokens: int = 1024
) -> tuple[Agent, list[ReasoningResult]]:
    """The chat agent, and the list its handler appends each reasoning trace to.

    Earlier questions and answers are kept in a short-term memory of `memory_tokens`
    tokens, so a follow-up question can refer to them.
    """
    loop = ReActLoop(model, ToolRegistry([calculator, days_between]), max_steps=max_steps)
    memory = ShortTermMemory(memory_tokens)
    traces: list[ReasoningResult] = []

    async def answer(envelope: Envelope, context: Context) -> Message:
        question = envelope.message.text
        result = await loop.run(question, history=memory.messages())
        traces.append(result)
        text = result.answer if result.answer is not None else "(no answer within the step limit)"
        memory.extend([ChatMessage("user", question), ChatMessage("assistant", text)])
        return Message.of_text(text)

    return Agent(ASSISTANT_CARD, answer), traces
