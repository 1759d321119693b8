"""Short-term memory: a system prompt plus the newest turns within a token budget."""

from __future__ import annotations

import pytest

from lamas.agent.memory import ShortTermMemory, approximate_tokens
from lamas.llm import ChatMessage


def words(text: str) -> int:
    return len(text.split())


def turn(n: int, size: int = 3, role: str = "user") -> ChatMessage:
    return ChatMessage(role, " ".join(f"t{n}w{i}" for i in range(size)))  # type: ignore[arg-type]


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="token_budget must be positive, got 0"):
        ShortTermMemory(0)
    with pytest.raises(ValueError, match="-5"):
        ShortTermMemory(-5)
    assert ShortTermMemory(1).token_budget == 1


def test_approximate_tokens_is_about_four_chars_and_never_zero() -> None:
    assert approximate_tokens("") == 1
    assert approximate_tokens("abcd") == 1
    assert approximate_tokens("abcde") == 2
    assert approximate_tokens("x" * 400) == 100


def test_system_prompt_comes_first_and_counts() -> None:
    memory = ShortTermMemory(20, system_prompt="you are kind", count_tokens=words)
    assert memory.messages() == [ChatMessage("system", "you are kind")]
    assert memory.tokens == 3
    memory.add(ChatMessage("user", "hello there"))
    assert memory.messages() == [
        ChatMessage("system", "you are kind"),
        ChatMessage("user", "hello there"),
    ]
    assert memory.tokens == 5


def test_without_system_prompt_there_is_no_system_message() -> None:
    memory = ShortTermMemory(10, count_tokens=words)
    assert memory.messages() == []
    assert memory.tokens == 0
    memory.add(ChatMessage("user", "a b"))
    assert [m.role for m in memory.messages()] == ["user"]


def test_oldest_turns_are_dropped_to_fit_the_budget() -> None:
    # budget 10, system 2 -> 8 tokens for turns: two 3-word turns fit, a third does not
    memory = ShortTermMemory(10, system_prompt="be brief", count_tokens=words)
    memory.extend([turn(1), turn(2, role="assistant")])
    assert memory.tokens == 8
    assert len(memory.messages()) == 3
    memory.add(turn(3))
    messages = memory.messages()
    assert messages == [ChatMessage("system", "be brief"), turn(2, role="assistant"), turn(3)]
    assert memory.tokens == 8
    memory.add(turn(4, size=5))  # 3 + 5 still fits in 8
    assert memory.messages()[1:] == [turn(3), turn(4, size=5)]
    assert memory.tokens == 10
    memory.add(turn(5, size=8))  # only this one fits: both older turns go
    assert memory.messages() == [ChatMessage("system", "be brief"), turn(5, size=8)]
    assert memory.tokens == 10


def test_exactly_at_budget_keeps_everything() -> None:
    memory = ShortTermMemory(6, count_tokens=words)
    memory.extend([turn(1), turn(2)])
    assert memory.tokens == 6
    assert memory.messages() == [turn(1), turn(2)]


@pytest.mark.parametrize("budget", [1, 5, 9, 17, 40])
def test_tokens_is_consistent_with_messages(budget: int) -> None:
    memory = ShortTermMemory(budget, system_prompt="sys tem", count_tokens=words)
    for n in range(12):
        memory.add(turn(n, size=1 + n % 4))
        expected = sum(words(m.content) for m in memory.messages())
        assert memory.tokens == expected
        turns = memory.messages()[1:]
        assert turns, "the newest turn is always kept"
        assert turns[-1].content.split()[-1] == f"t{n}w{n % 4}"
        if len(turns) > 1:
            assert memory.tokens <= budget


def test_an_oversized_turn_is_truncated_from_the_front_and_kept() -> None:
    memory = ShortTermMemory(6, system_prompt="a b", count_tokens=words)
    memory.add(turn(1))
    big = ChatMessage("assistant", " ".join(f"w{i:02d}" for i in range(40)))
    memory.add(big)
    messages = memory.messages()
    assert messages[0] == ChatMessage("system", "a b")
    assert len(messages) == 2
    kept = messages[1]
    assert kept.role == "assistant"
    assert big.content.endswith(kept.content)
    assert kept.content.endswith("w39")
    assert words(kept.content) <= 4
    assert memory.tokens == 2 + words(kept.content)
    assert memory.tokens <= 6


def test_oversized_turn_with_default_counter() -> None:
    memory = ShortTermMemory(10)
    text = "".join(str(i % 10) for i in range(400))
    memory.add(ChatMessage("user", text))
    (kept,) = memory.messages()
    assert text.endswith(kept.content)
    assert approximate_tokens(kept.content) <= 10
    assert memory.tokens == approximate_tokens(kept.content)


def test_clear_forgets_turns_but_keeps_the_system_prompt() -> None:
    memory = ShortTermMemory(50, system_prompt="rules here", count_tokens=words)
    memory.extend([turn(1), turn(2)])
    memory.clear()
    assert memory.messages() == [ChatMessage("system", "rules here")]
    assert memory.tokens == 2
    memory.add(turn(3))
    assert memory.tokens == 5
