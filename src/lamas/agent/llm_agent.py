"""`llm_agent`: the shortest way to your own agent, a model with typed tools behind one skill.

A newcomer's first agent should need no card, schema or handler written by hand: the
card gets one skill (its name the agent's id unless given) whose input is a question,
and the handler runs the ReAct loop over the tools. The reply carries the answer as text
and as data (`{"answer": ...}`), so an orchestrator can pass it on to later steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from lamas.agent.agent import Agent
from lamas.agent.reasoning import DEFAULT_SYSTEM_PROMPT, GuardChoice, ReActLoop
from lamas.agent.tools import Tool, ToolRegistry, tool
from lamas.llm.base import ChatModel
from lamas.protocol.cards import FILL, AgentCard, Price, Skill
from lamas.protocol.messages import DataPart, Envelope, Message, TextPart
from lamas.protocol.types import Context, Handler, Middleware

# The question is the request itself, word for word: no model fills it (`FILL`).
QUESTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"question": {"type": "string", FILL: "request"}},
    "required": ["question"],
}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}
NO_ANSWER = "(no answer within the step limit)"


def llm_agent(
    id: str,
    description: str,
    *,
    model: ChatModel,
    tools: Iterable[Tool | Callable[..., Any]] = (),
    entity: str | None = None,
    skill: str | None = None,
    price: Decimal | str | None = None,
    currency: str = "EUR",
    examples: Iterable[str] = (),
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    max_steps: int = 4,
    middleware: Iterable[Middleware] = (),
    guard: GuardChoice = "plan",
) -> Agent:
    """An agent answering questions with `model`, calling `tools` (plain typed functions
    or `@tool`s) when they help.

    `description` is what an orchestrator routes on: say what the agent does in the
    words a user would use. `entity` (who owns the agent and is paid for its work)
    defaults to the id; `price` is what one call costs, in `currency`. Tools marked
    `sensitive` run behind `guard` ("plan" unless you opt out with "arguments" or "off"):
    only the sensitive actions, recipients, accounts and amounts the question names.
    """
    skill_name = skill or _skill_name(id)
    card = AgentCard(
        id=id,
        name=id.replace("-", " ").title(),
        description=description,
        entity=entity or id,
        skills=(
            Skill(
                name=skill_name,
                description=description,
                input_schema=QUESTION_SCHEMA,
                output_schema=ANSWER_SCHEMA,
                examples=tuple(examples),
            ),
        ),
        prices=(
            ()
            if price is None
            else (Price(skill=skill_name, amount=Decimal(str(price)), currency=currency),)
        ),
    )
    handler = react_handler(
        model, tools, system_prompt=system_prompt, max_steps=max_steps, guard=guard
    )
    return Agent(card, handler, middleware=middleware)


def react_handler(
    model: ChatModel,
    tools: Iterable[Tool | Callable[..., Any]] = (),
    *,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    max_steps: int = 4,
    guard: GuardChoice = "plan",
) -> Handler:
    """The handler of an `llm_agent`, for a card written elsewhere (a network file's
    `handler: module:factory`, whose factory gets the card and returns this). Its sensitive
    tools run behind `guard` (`lamas.agent.reasoning.GuardChoice`; the plan guard unless
    you opt out), planned from each question before any tool output exists."""
    registry = ToolRegistry([t if isinstance(t, Tool) else tool(t) for t in tools])
    loop = ReActLoop(model, registry, system_prompt=system_prompt, max_steps=max_steps, guard=guard)

    async def answer(envelope: Envelope, context: Context) -> Message:
        question = str(envelope.message.data.get("question") or envelope.message.text)
        result = await loop.run(question)
        text = result.answer if result.answer is not None else NO_ANSWER
        return Message(parts=(TextPart(text=text), DataPart(data={"answer": text})))

    return answer


def _skill_name(agent_id: str) -> str:
    """A skill name from an agent id (skill names are lower-case: `[a-z][a-z0-9_.-]*`)."""
    name = re.sub(r"[^a-z0-9_.-]", "-", agent_id.lower()).lstrip("0123456789_.-")
    return (name or "ask")[:64]
