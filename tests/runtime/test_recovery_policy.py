"""The recovery layer's policies on their own: which failures are retried, within what,
and bad settings refused with a clear error."""

from __future__ import annotations

import time

import pytest

from lamas.errors import (
    AgentUnreachable,
    ConfigError,
    DeadlineExceeded,
    InputError,
    RemoteError,
)
from lamas.protocol import AgentCard, Skill
from lamas.runtime.recovery import Admission, Backoff, Recovery, RetryPolicy, is_transient
from lamas.security.ratelimit import RateLimited


def test_only_transient_failures_are_retried() -> None:
    assert is_transient(AgentUnreachable("railgo", "connection refused"))
    assert is_transient(TimeoutError())
    assert is_transient(RateLimited("orchestrator", "personal", "1/s", 0.5))
    assert is_transient(RemoteError("railgo", "its task failed: RateLimited: rate limited"))
    assert is_transient(RemoteError("railgo", "HTTP 503 Service Unavailable"))
    assert not is_transient(RemoteError("railgo", "its task failed: BookingFailed: declined"))
    assert not is_transient(InputError("unknown offer"))


@pytest.mark.asyncio
async def test_retries_back_off_honour_retry_after_and_stop_at_the_deadline() -> None:
    policy = RetryPolicy(default=Backoff(attempts=10, initial=0.01, maximum=0.02, jitter=0.0))
    tries: list[float] = []

    async def flaky(timeout: float | None) -> str:
        tries.append(time.monotonic())
        if len(tries) == 1:
            raise RateLimited("orchestrator", "personal", "1/s", 0.2)
        if len(tries) < 3:
            raise AgentUnreachable("railgo", "reset")
        return "ok"

    assert await policy.call("ticket.book", flaky) == "ok"
    assert tries[1] - tries[0] >= 0.19  # waited what the refusal asked

    async def down(timeout: float | None) -> str:
        raise AgentUnreachable("railgo", "refused")

    started = time.monotonic()
    with pytest.raises((AgentUnreachable, DeadlineExceeded)):
        await policy.call("ticket.book", down, deadline=time.monotonic() + 0.1)
    assert time.monotonic() - started < 1.0

    async def wrong(timeout: float | None) -> str:
        tries.append(0.0)
        raise InputError("unknown offer")

    before = len(tries)
    with pytest.raises(InputError):
        await policy.call("ticket.book", wrong)
    assert len(tries) == before + 1  # asked once: asking again gets the same answer


def test_bad_recovery_settings_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="at least 1 attempt"):
        Backoff(attempts=0)
    with pytest.raises(ConfigError, match="factor"):
        Backoff(factor=0.5)
    with pytest.raises(ConfigError, match="max_active"):
        Admission(max_active=0)
    with pytest.raises(ConfigError, match="retry budget must be > 0 seconds, got 0"):
        Recovery(task_budget=0)
    with pytest.raises(ConfigError, match="provider_wait must be >= 0 seconds, got -1"):
        Recovery(provider_wait=-1)


def test_a_compensation_must_be_a_skill_of_the_same_card() -> None:
    book = Skill(name="ticket.book", description="book", compensation="ticket.cancel")
    with pytest.raises(InputError, match=r"ticket\.book -> ticket\.cancel"):
        AgentCard.parse(
            {"id": "railgo", "name": "R", "entity": "railgo", "skills": [book.model_dump()]}
        )
    cancel = Skill(name="ticket.cancel", description="cancel")
    card = AgentCard(id="railgo", name="R", entity="railgo", skills=(book, cancel))
    assert card.skill("ticket.book").compensation == "ticket.cancel"  # type: ignore[union-attr]
