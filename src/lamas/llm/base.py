"""The chat model contract: `complete(messages, schema=...) -> Completion`, with usage accounting.

Structured output is asked for with a JSON Schema and enforced by the backend
(llama.cpp grammar, OpenAI `response_format`), never by regex on free text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from lamas import telemetry
from lamas.errors import ModelOutputError

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str

    def as_openai(self) -> dict[str, str]:
        # Tool results go back to the model as user turns: small local chat
        # templates know no "tool" role without a tool-call id to pair it with.
        role = "user" if self.role == "tool" else self.role
        return {"role": role, "content": self.content}


def system(content: str) -> ChatMessage:
    return ChatMessage("system", content)


def user(content: str) -> ChatMessage:
    return ChatMessage("user", content)


def assistant(content: str) -> ChatMessage:
    return ChatMessage("assistant", content)


@dataclass(frozen=True, slots=True)
class Usage:
    """Resources one call (or a sum of calls) used."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.seconds + other.seconds,
            self.calls + other.calls,
        )


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: Usage
    finish_reason: str = "stop"
    model: str = ""

    def json(self) -> Any:
        """The answer parsed as JSON; raises `ModelOutputError` naming the text if it is not."""
        try:
            return json.loads(self.text)
        except json.JSONDecodeError as error:
            shown = self.text if len(self.text) <= 200 else self.text[:200] + "..."
            raise ModelOutputError(
                f"model {self.model or '?'} answered with text that is not JSON "
                f"({error.msg} at char {error.pos}; finish_reason={self.finish_reason}): {shown!r}"
            ) from None


@runtime_checkable
class ChatModel(Protocol):
    """Anything that completes a chat. `usage` is the running total over this model's calls."""

    name: str

    @property
    def usage(self) -> Usage: ...

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion: ...


class MeteredModel:
    """Base of the backends: a name, and the running total of what the calls used."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._total = Usage()

    @property
    def usage(self) -> Usage:
        return self._total

    def _record(self, completion: Completion) -> Completion:
        self._total = self._total + completion.usage
        if telemetry.TRACER is not None:
            telemetry.model_call(self.name, completion)
        return completion
