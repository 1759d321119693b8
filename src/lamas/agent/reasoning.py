"""The reasoning loop: chain of thought, and ReAct with tools, through schema-constrained output.

Each step the model must answer with JSON matching a schema that allows only
the registered tools (with their argument schemas) or a final answer, so the
backend's grammar, not a parser of free text, keeps the model on the rails.
With no tools the loop is plain chain of thought: think, then answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from lamas.agent.tools import ToolRegistry, ToolResult
from lamas.errors import ConfigError, ModelOutputError
from lamas.llm.base import ChatMessage, ChatModel, Usage
from lamas.security.spotlight import SPOTLIGHT_SYSTEM_NOTE, Spotlight

if TYPE_CHECKING:
    from lamas.agent.toolguard import ToolCall, ToolGuard

GuardChoice = Literal["plan", "arguments", "off"]
"""Which guard stands before sensitive tools: "plan" (the default: `PlanGuard`, only the
sensitive actions, recipients, accounts and amounts the user's instruction names run),
"arguments" (`ToolGuard` alone: values read in tool output need the user's word, made-up
ones pass), "off" (none: only for tools whose effects you accept from any text the model
reads)."""
GUARDS: tuple[GuardChoice, ...] = ("plan", "arguments", "off")

FINAL = "final_answer"
THOUGHT_MAX_CHARS = 600

DEFAULT_SYSTEM_PROMPT = (
    "You are a careful assistant. Think step by step. Each turn, answer with one JSON object: "
    '"thought" says what you know and what to do next; "action" either calls one tool '
    '(`{"tool": NAME, "args": {...}}`) or gives the final answer '
    f'(`{{"tool": "{FINAL}", "answer": "..."}}`). '
    "Use a tool whenever it can compute or look up something better than you can. "
    "Tool results come back as observations."
)


@dataclass(frozen=True, slots=True)
class ReasoningStep:
    thought: str
    tool: str
    arguments: dict[str, Any]
    result: ToolResult | None


@dataclass(slots=True)
class ReasoningResult:
    answer: str | None
    steps: list[ReasoningStep] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stopped: Literal["answer", "max_steps"] = "answer"


def action_schema(tools: ToolRegistry) -> dict[str, Any]:
    """JSON Schema of one step: a thought plus one tool call or the final answer."""
    definitions: dict[str, Any] = {}
    options: list[dict[str, Any]] = []
    for each in tools:
        arguments = dict(each.schema)
        for name, definition in arguments.pop("$defs", {}).items():
            if definitions.setdefault(name, definition) != definition:
                raise ModelOutputError(f"two tools define different schemas named {name!r}")
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": each.name}, "args": arguments},
                "required": ["tool", "args"],
                "additionalProperties": False,
            }
        )
    options.append(
        {
            "type": "object",
            "properties": {"tool": {"const": FINAL}, "answer": {"type": "string"}},
            "required": ["tool", "answer"],
            "additionalProperties": False,
        }
    )
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "thought": {"type": "string", "maxLength": THOUGHT_MAX_CHARS},
            "action": {"anyOf": options} if len(options) > 1 else options[0],
        },
        "required": ["thought", "action"],
        "additionalProperties": False,
    }
    if definitions:
        schema["$defs"] = definitions
    return schema


def tool_catalogue(tools: ToolRegistry) -> str:
    lines = [
        f"- {t.name}({json.dumps(t.schema.get('properties', {}))}): {t.description}" for t in tools
    ]
    return "Tools:\n" + "\n".join(lines) if lines else "You have no tools: think, then answer."


class ReActLoop:
    """Runs think -> act -> observe until the model answers or `max_steps` is reached."""

    def __init__(
        self,
        model: ChatModel,
        tools: ToolRegistry | None = None,
        *,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        max_steps: int = 6,
        max_tokens: int = 384,
        spotlight: Spotlight | None = None,
        confirm: Callable[[ToolCall], bool] | None = None,
        few_shot: Callable[[str], Sequence[tuple[str, str]]] | None = None,
        guard: GuardChoice | ToolGuard = "plan",
    ) -> None:
        self.model = model
        self.tools = tools or ToolRegistry()
        # Sensitive tools (payment, sending data out) run behind a guard fixed by the question
        # before any tool output exists: by default the plan guard, which runs only the
        # sensitive actions the question asks for, with the recipients, accounts and amounts
        # it gives; `confirm` (a human) may allow what it refuses.
        if isinstance(guard, str) and guard not in GUARDS:
            raise ConfigError(
                f"guard must be one of {', '.join(GUARDS)} or a ToolGuard, not {guard!r}"
            )
        self.guard = guard
        self.confirm = confirm
        self.system_prompt = system_prompt
        # Tool results are outside text: they reach the model only inside marked blocks
        # it is told never to obey (datamarked, so it can still read them).
        self.spotlight = spotlight or Spotlight.new("datamark")
        self.max_steps = max_steps
        self.max_tokens = max_tokens
        self._schema = action_schema(self.tools)
        self._final_schema = action_schema(ToolRegistry())
        # Learning from experience: the agent's own earlier questions that it answered
        # well, with those answers, shown before the new question (`experience.fewshot`).
        self.few_shot = few_shot

    async def run(
        self, question: str, *, history: list[ChatMessage] | None = None
    ) -> ReasoningResult:
        messages = [
            ChatMessage(
                "system",
                f"{self.system_prompt}\n\n{SPOTLIGHT_SYSTEM_NOTE}\n\n{tool_catalogue(self.tools)}",
            ),
            *self._examples(question),
            *(history or []),
            ChatMessage("user", question),
        ]
        outcome = ReasoningResult(answer=None)
        tools = self.guarded(question)
        schema = self._schema
        called: dict[str, ToolResult] = {}
        for _ in range(self.max_steps):
            completion = await self.model.complete(
                messages, schema=schema, max_tokens=self.max_tokens
            )
            outcome.usage = outcome.usage + completion.usage
            messages.append(ChatMessage("assistant", completion.text))
            try:
                thought, action = _read_step(completion.json())
            except ModelOutputError as error:
                messages.append(
                    ChatMessage("user", f"Observation: {error}. Answer with valid JSON.")
                )
                continue
            name = str(action.get("tool"))
            if name == FINAL:
                outcome.steps.append(ReasoningStep(thought, FINAL, {}, None))
                outcome.answer = str(action.get("answer", ""))
                return outcome
            arguments = action.get("args") if isinstance(action.get("args"), dict) else {}
            assert isinstance(arguments, dict)
            call = json.dumps([name, arguments], sort_keys=True, default=str)
            earlier = called.get(call)
            if earlier is not None:
                # Small models repeat a call whose result they already have, to the step
                # limit: a call that succeeded is not run again, and the next turn may
                # only answer.
                outcome.steps.append(ReasoningStep(thought, name, arguments, earlier))
                schema = self._final_schema
                messages.append(
                    ChatMessage(
                        "user",
                        f"Observation: you already called {name} with these arguments; "
                        "its result is above. Give the final answer now.",
                    )
                )
                continue
            result = await tools.call(name, arguments)
            if result.ok:  # a failed call may be retried (a timeout, say)
                called[call] = result
            outcome.steps.append(ReasoningStep(thought, name, arguments, result))
            marked = self.spotlight.mark(result.for_model(), source=f"tool:{name}")
            messages.append(ChatMessage("tool", f"Observation: {marked}"))
        outcome.stopped = "max_steps"
        return outcome

    def guarded(self, instruction: str) -> ToolRegistry:
        """The tools for one run: behind the chosen guard, judging by `instruction` (the plan
        is read from it now, before any tool has run), whenever a tool is sensitive (unless
        the registry given already guards itself, or the guard is "off")."""
        sensitive = [t.name for t in self.tools if t.sensitive]
        if not sensitive or self.guard == "off":
            return self.tools
        # Loaded on use: the guard reads text as the detector does (its rules and
        # normalisation), which `import lamas` should not pay for.
        from lamas.agent.planguard import PlanGuard
        from lamas.agent.toolguard import GuardedRegistry, ToolGuard

        if isinstance(self.tools, GuardedRegistry):
            return self.tools
        guard: ToolGuard
        if self.guard == "plan":
            guard = PlanGuard(sensitive, confirm=self.confirm)
        elif self.guard == "arguments":
            guard = ToolGuard(sensitive, confirm=self.confirm)
        else:
            assert not isinstance(self.guard, str)
            guard = self.guard
        return GuardedRegistry(self.tools, guard, instruction=instruction)

    def _examples(self, question: str) -> list[ChatMessage]:
        turns: list[ChatMessage] = []
        for asked, answer in self.few_shot(question) if self.few_shot else ():
            turns += worked_example(asked, answer)
        return turns


def worked_example(question: str, answer: str) -> list[ChatMessage]:
    """A solved question as two turns in the loop's own format."""
    step = {"thought": "As in a case I solved before.", "action": {"tool": FINAL, "answer": answer}}
    return [
        ChatMessage("user", f"(worked example) {question}"),
        ChatMessage("assistant", json.dumps(step)),
    ]


def _read_step(data: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("action"), dict):
        raise ModelOutputError(f"expected {{'thought': ..., 'action': {{...}}}}, got {data!r:.200}")
    return str(data.get("thought", "")), data["action"]
