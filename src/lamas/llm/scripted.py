"""A deterministic chat model for unit tests: replies come from a script, not a network.

A test double only: for fast, exact tests of code that calls a model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from lamas.errors import ModelError
from lamas.llm.base import ChatMessage, Completion, MeteredModel, Usage

Reply = str | dict[str, Any] | list[Any]
Responder = Callable[[list[ChatMessage], dict[str, Any] | None], Reply]


class ScriptedModel(MeteredModel):
    """Answers each call with the next scripted reply (dicts and lists are sent as JSON),
    or with what `responder(messages, schema)` returns. Records every call in `calls`."""

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        responder: Responder | None = None,
        name: str = "scripted",
    ) -> None:
        super().__init__(name)
        self._replies = list(replies)
        self._responder = responder
        self.calls: list[tuple[list[ChatMessage], dict[str, Any] | None]] = []

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion:
        self.calls.append((list(messages), schema))
        if self._responder is not None:
            reply = self._responder(messages, schema)
        elif self._replies:
            reply = self._replies.pop(0)
        else:
            raise ModelError(
                f"scripted model {self.name!r} ran out of replies after {len(self.calls) - 1} calls"
            )
        text = reply if isinstance(reply, str) else json.dumps(reply)
        # Whitespace-separated words stand in for tokens: deterministic and good enough to test
        # the accounting around a model.
        usage = Usage(
            prompt_tokens=sum(len(m.content.split()) for m in messages),
            completion_tokens=len(text.split()),
            seconds=0.0,
            calls=1,
        )
        return self._record(Completion(text=text, usage=usage, model=self.name))
