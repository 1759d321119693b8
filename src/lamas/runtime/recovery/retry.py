"""Retries of transient failures: the one place their policy lives, configurable per skill.

A call that failed because the other side was briefly not there (refused connection,
reset, timeout, 429/503, a rate limit, a busy edge) is tried again after an exponential
backoff with jitter, within the step's deadline; anything else (bad input, a declined
card, an unknown offer) fails at once, because asking again would get the same answer.
The retrying itself is `tenacity`'s (a maintained library); what is ours is which errors
are transient and how long each skill may keep trying.

A refusal that says when to come back (`retry_after` on a rate limit or a busy edge)
waits at least that long.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from lamas.errors import (
    AgentUnreachable,
    ConfigError,
    DeadlineExceeded,
    RemoteError,
    TransportClosed,
)

T = TypeVar("T")

_TRANSIENT_TEXT = re.compile(
    r"rate.?limited|RateLimited|Busy|busy, retry|\b429\b|\b503\b|"
    r"ConnectError|ConnectTimeout|ReadTimeout|RemoteProtocolError|could not be reached|"
    r"DeadlineExceeded|did not reply within",
    re.IGNORECASE,
)


def retry_after_of(error: BaseException) -> float:
    """The seconds a refusal asked us to wait (0 when it said nothing)."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and value > 0:
        return float(value)
    return 0.0


def is_transient(error: BaseException) -> bool:
    """Whether asking again later may succeed: the other side was absent, slow or full,
    not wrong. A remote agent's failure counts only when its text says so (a remote
    rate limit, a 503)."""
    if isinstance(error, AgentUnreachable | DeadlineExceeded | TransportClosed):
        return True
    if isinstance(error, TimeoutError | ConnectionError):
        return True
    if retry_after_of(error) > 0:  # RateLimited, Busy: they told us when to come back
        return True
    if isinstance(error, RemoteError):
        return bool(_TRANSIENT_TEXT.search(str(error)))
    name = type(error).__name__
    return name in {"ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError"}


@dataclass(frozen=True, slots=True)
class Backoff:
    """How one skill's calls are retried: at most `attempts` tries, waits growing from
    `initial` s by `factor` up to `maximum` s, each with up to `jitter` s of noise."""

    attempts: int = 4
    initial: float = 0.1
    factor: float = 2.0
    maximum: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"a retry policy needs at least 1 attempt, got {self.attempts}")
        for name in ("initial", "maximum", "jitter"):
            if getattr(self, name) < 0:
                raise ConfigError(f"retry {name} must be >= 0, got {getattr(self, name)}")
        if self.factor < 1:
            raise ConfigError(f"retry factor must be >= 1, got {self.factor}")


NO_RETRY = Backoff(attempts=1)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The default `Backoff` and the skills that differ (a vote is not worth waiting for:
    a voter that is down abstains; a log post is fire-and-forget)."""

    default: Backoff = field(default_factory=Backoff)
    per_skill: Mapping[str, Backoff] = field(
        default_factory=lambda: {"consensus.vote": NO_RETRY, "log.record": NO_RETRY}
    )

    def for_skill(self, skill: str | None) -> Backoff:
        return self.per_skill.get(skill or "", self.default)

    def with_skill(self, skill: str, backoff: Backoff) -> RetryPolicy:
        return replace(self, per_skill={**self.per_skill, skill: backoff})

    async def call(
        self,
        skill: str | None,
        attempt: Callable[[float | None], Awaitable[T]],
        *,
        deadline: float | None = None,
        on_retry: Callable[[BaseException, int], None] | None = None,
        retry_on: Callable[[BaseException], bool] = is_transient,
    ) -> T:
        """`attempt(timeout)` until it succeeds, fails for good, runs out of tries or the
        `deadline` (a `time.monotonic()` instant) passes; each try is given what is left
        of the deadline as its timeout. The last error is raised as it was."""
        backoff = self.for_skill(skill)
        if backoff.attempts == 1:
            return await attempt(_left(deadline))
        stop: Any = stop_after_attempt(backoff.attempts)
        if deadline is not None:
            stop = stop | stop_after_delay(max(0.0, deadline - time.monotonic()))
        exponential = wait_exponential_jitter(
            multiplier=backoff.initial,
            exp_base=backoff.factor,
            max=backoff.maximum,
            jitter=backoff.jitter,
        )

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            pause = max(exponential(state), retry_after_of(error) if error else 0.0)
            left = _left(deadline)
            return pause if left is None else max(0.0, min(pause, left - 0.01))

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            if on_retry is not None and error is not None:
                on_retry(error, state.attempt_number)

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(retry_on),
            reraise=True,
            before_sleep=before_sleep,
            sleep=asyncio.sleep,
        )
        async for try_ in retrying:
            with try_:
                left = _left(deadline)
                if left is not None and left <= 0:
                    raise DeadlineExceeded(skill or "call", 0.0)
                return await attempt(left)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()
