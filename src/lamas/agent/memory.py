"""Short-term memory: the recent conversation, kept within a token budget."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from lamas.llm.base import ChatMessage

TokenCounter = Callable[[str], int]


def approximate_tokens(text: str) -> int:
    """About four characters a token for English text with BPE vocabularies; never zero."""
    return max(1, (len(text) + 3) // 4)


class ShortTermMemory:
    """A system prompt plus the latest turns whose tokens fit in `token_budget`.

    Oldest turns are dropped first; the system prompt is always kept (its tokens count
    against the budget). A single turn larger than the budget is kept alone, truncated
    from the front, so the newest words always reach the model.
    """

    def __init__(
        self,
        token_budget: int,
        *,
        system_prompt: str | None = None,
        count_tokens: TokenCounter = approximate_tokens,
    ) -> None:
        if token_budget < 1:
            raise ValueError(f"token_budget must be positive, got {token_budget}")
        self.token_budget = token_budget
        self.system_prompt = system_prompt
        self._count = count_tokens
        self._turns: deque[tuple[ChatMessage, int]] = deque()
        self._tokens = 0
        self._system_tokens = count_tokens(system_prompt) if system_prompt else 0

    def add(self, message: ChatMessage) -> None:
        cost = self._count(message.content)
        self._turns.append((message, cost))
        self._tokens += cost
        self._trim()

    def extend(self, messages: Iterable[ChatMessage]) -> None:
        for message in messages:
            self.add(message)

    @property
    def tokens(self) -> int:
        """Tokens of everything `messages()` returns."""
        return self._system_tokens + self._tokens

    def messages(self) -> list[ChatMessage]:
        head = [ChatMessage("system", self.system_prompt)] if self.system_prompt else []
        return head + [message for message, _ in self._turns]

    def clear(self) -> None:
        self._turns.clear()
        self._tokens = 0

    def _trim(self) -> None:
        budget = self.token_budget - self._system_tokens
        while len(self._turns) > 1 and self._tokens > budget:
            _, cost = self._turns.popleft()
            self._tokens -= cost
        if self._turns and self._tokens > budget:
            message, _ = self._turns.pop()
            text = message.content
            while len(text) > 1 and self._count(text) > max(1, budget):
                text = text[len(text) // 8 or 1 :]
            kept = ChatMessage(message.role, text)
            self._turns.append((kept, self._count(text)))
            self._tokens = self._count(text)
