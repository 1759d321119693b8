"""Rate limits and query budgets per caller, to slow model extraction (paper §2.5).

Extraction and inversion attacks work by asking many targeted queries; an agent owned
by one entity and open to others can make that slow and expensive. Two limiters:

- `RateLimits`: a token bucket per caller (`rate_per_s` sustained, `burst` at once),
  optionally per caller and skill; callers may have limits of their own.
- `QueryBudget`: at most `total_per_window` queries per caller in any `window_s`
  seconds (a sliding window), for a hard cap on how much one caller can learn per day.

Both answer `check(envelope)` by returning, or by raising `RateLimited` with
`retry_after` (seconds until the caller may ask again, always > 0). `rate_limit(...)`
makes either one middleware: an envelope over the limit is recorded and refused, and
the inner handler never runs. Place it inside `verify_signatures`, so callers are
counted by a sender that has been proved. Clocks are injectable for exact tests.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple, Protocol

from lamas.errors import ConfigError, DeliveryError
from lamas.protocol.messages import Envelope
from lamas.protocol.types import Context, Handler, Middleware, Reply

log = logging.getLogger(__name__)

MAX_TRACKED_CALLERS = 10_000  # beyond this, callers whose limit is back to full are forgotten
_EPSILON = 1e-9  # float slack: waiting exactly `retry_after` must be enough

Record = Callable[[Envelope, Exception], None]
"""Told of every refused envelope with the error it was refused with."""


class RateLimited(DeliveryError):
    """A caller has used up its rate limit or query budget; it may retry after `retry_after` s."""

    def __init__(self, caller: str, recipient: str, limit: str, retry_after: float) -> None:
        self.caller = caller
        self.recipient = recipient
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(
            f"rate limited: {caller!r} has used its limit of {limit} at {recipient!r}; "
            f"retry after {retry_after:.3f} s"
        )


class Limiter(Protocol):
    """Asked before a handler runs; raises `RateLimited` to refuse the envelope."""

    def check(self, envelope: Envelope) -> None: ...


# --- token bucket -------------------------------------------------------------------------


class TokenBucket:
    """Holds up to `burst` tokens, refilled at `rate_per_s`; each query takes some."""

    __slots__ = ("_clock", "_last", "_tokens", "burst", "rate_per_s")

    def __init__(
        self, rate_per_s: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate_per_s > 0 or not math.isfinite(rate_per_s):
            raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s}")
        if not burst >= 1 or not math.isfinite(burst):
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self, n: float = 1) -> float:
        """Take `n` tokens and return 0.0, or take none and return the seconds until `n`
        will be there."""
        if not 0 < n <= self.burst:
            raise ValueError(f"can take between 0 and the burst ({self.burst:g}), not {n}")
        tokens = self._refill()
        if tokens + _EPSILON >= n:
            self._tokens = max(0.0, tokens - n)
            return 0.0
        return (n - tokens) / self.rate_per_s

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        return self._refill()

    @property
    def full(self) -> bool:
        return self._refill() >= self.burst

    def _refill(self) -> float:
        now = self._clock()
        elapsed = max(0.0, now - self._last)  # a clock that steps back adds nothing
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
        return self._tokens

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_s={self.rate_per_s:g}, burst={self.burst:g})"


class Limit(NamedTuple):
    """A token bucket's shape: `rate_per_s` sustained, `burst` at once."""

    rate_per_s: float
    burst: float

    def __str__(self) -> str:
        return f"{self.rate_per_s:g}/s (burst {self.burst:g})"


LimitSpec = tuple[float, float] | None
"""`(rate_per_s, burst)`, or None for no limit."""


class RateLimits:
    """A token bucket per caller (and per skill, if `per_skill`): `default` for every
    caller, `per_caller` for named ones (None there lifts the limit for that caller).

    `caller` says whom an envelope counts against (its sender by default; e.g. map the
    sender to its entity to limit an entity's agents together).
    """

    def __init__(
        self,
        default: LimitSpec = None,
        per_caller: Mapping[str, LimitSpec] | None = None,
        *,
        per_skill: bool = False,
        caller: Callable[[Envelope], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = _limit(default, "default")
        self.per_caller = {
            name: _limit(spec, f"limit of {name!r}") for name, spec in (per_caller or {}).items()
        }
        self.per_skill = per_skill
        self._caller = caller or _sender
        self._clock = clock
        self._buckets: dict[tuple[str, str | None], TokenBucket] = {}

    def limit_of(self, caller: str) -> Limit | None:
        return self.per_caller.get(caller, self.default)

    def take(self, caller: str, skill: str | None = None) -> float:
        """Count one query by `caller`; 0.0 if allowed, else the seconds until it would be."""
        limit = self.limit_of(caller)
        if limit is None:
            return 0.0
        key = (caller, skill if self.per_skill else None)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CALLERS:
                self._forget_full()
            bucket = self._buckets[key] = TokenBucket(*limit, clock=self._clock)
        return bucket.take()

    def check(self, envelope: Envelope) -> None:
        caller = self._caller(envelope)
        wait = self.take(caller, envelope.skill)
        if wait > 0:
            limit = str(self.limit_of(caller))
            if self.per_skill and envelope.skill:
                limit = f"{limit} for skill {envelope.skill!r}"
            raise RateLimited(caller, envelope.recipient, limit, wait)

    def _forget_full(self) -> None:
        # A full bucket is the same as a new one: forgetting it loses nothing.
        for key in [k for k, bucket in self._buckets.items() if bucket.full]:
            del self._buckets[key]

    def __repr__(self) -> str:
        return f"RateLimits(default={self.default}, per_caller={len(self.per_caller)})"


# --- query budget -------------------------------------------------------------------------


class QueryBudget:
    """At most `total_per_window` queries per caller in any `window_s` seconds.

    A sliding window: once exhausted, a caller may ask again when its oldest query in the
    window leaves it, which is what `retry_after` says.
    """

    def __init__(
        self,
        total_per_window: int,
        window_s: float,
        *,
        caller: Callable[[Envelope], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total_per_window < 1:
            raise ValueError(f"total_per_window must be at least 1, got {total_per_window}")
        if not window_s > 0 or not math.isfinite(window_s):
            raise ValueError(f"window_s must be a positive number, got {window_s}")
        self.total_per_window = total_per_window
        self.window_s = window_s
        self._caller = caller or _sender
        self._clock = clock
        self._asked: dict[str, deque[float]] = {}

    def take(self, caller: str) -> float:
        """Count one query by `caller`; 0.0 if allowed, else the seconds until it would be."""
        now = self._clock()
        asked = self._asked.get(caller)
        if asked is None:
            if len(self._asked) >= MAX_TRACKED_CALLERS:
                self._forget_idle(now)
            asked = self._asked[caller] = deque()
        self._expire(asked, now)
        if len(asked) < self.total_per_window:
            asked.append(now)
            return 0.0
        return max(asked[0] + self.window_s - now, _EPSILON)

    def remaining(self, caller: str) -> int:
        """Queries `caller` may still ask in the current window."""
        asked = self._asked.get(caller)
        if asked is None:
            return self.total_per_window
        self._expire(asked, self._clock())
        return self.total_per_window - len(asked)

    def check(self, envelope: Envelope) -> None:
        caller = self._caller(envelope)
        wait = self.take(caller)
        if wait > 0:
            limit = f"{self.total_per_window:,} queries per {self.window_s:g} s"
            raise RateLimited(caller, envelope.recipient, limit, wait)

    def _expire(self, asked: deque[float], now: float) -> None:
        while asked and asked[0] <= now - self.window_s:
            asked.popleft()

    def _forget_idle(self, now: float) -> None:
        for caller in list(self._asked):
            self._expire(self._asked[caller], now)
            if not self._asked[caller]:
                del self._asked[caller]

    def __repr__(self) -> str:
        return f"QueryBudget({self.total_per_window} per {self.window_s:g} s)"


# --- the platform's own calls -------------------------------------------------------------


class Exempt:
    """`limits` for every caller but `callers`: the platform's own agents acting for a task
    (the orchestrator). Their calls are the platform's work, already queued and bounded by
    its admission control (`runtime/recovery/admission.py`); throttling them like an
    outside caller's would fail tasks midway under load. Senders are proved before this
    runs (`verify_signatures` is outside it), so no caller can claim to be the platform."""

    def __init__(self, limits: Limiter, callers: Collection[str]) -> None:
        self.limits = limits
        self.callers = frozenset(callers)

    def check(self, envelope: Envelope) -> None:
        if envelope.sender not in self.callers:
            self.limits.check(envelope)

    def __repr__(self) -> str:
        return f"Exempt({self.limits!r}, callers={sorted(self.callers)})"


# --- middleware ---------------------------------------------------------------------------


def rate_limit(limits: Limiter, *, record: Record | None = None) -> Middleware:
    """Middleware that asks `limits` (`RateLimits`, `QueryBudget`, ...) before each envelope;
    one over the limit goes to `record` with its `RateLimited` error, which is raised."""

    def wrap(handler: Handler) -> Handler:
        async def limited(envelope: Envelope, context: Context) -> Reply:
            try:
                limits.check(envelope)
            except RateLimited as error:
                log.info("%s", error)
                if record is not None:
                    try:
                        record(envelope, error)
                    except Exception:  # a failing recorder must not let the envelope through
                        log.exception("recording the refusal of envelope %s failed", envelope.id)
                raise
            return await handler(envelope, context)

        return limited

    return wrap


def caller_key(key_id: str | None, address: str | None) -> str:
    """Whose bucket a call from outside takes from: a signed caller's by its key (however
    many addresses it calls from), an anonymous caller's by its network address (so one
    client cannot starve the others, as one shared anonymous bucket let it)."""
    if key_id:
        return f"key:{key_id}"
    return f"address:{address or 'unknown'}"


def _sender(envelope: Envelope) -> str:
    return envelope.sender


def _limit(spec: LimitSpec, what: str) -> Limit | None:
    if spec is None:
        return None
    rate, burst = spec
    try:
        TokenBucket(rate, burst, clock=lambda: 0.0)  # the same checks, with the same messages
    except ValueError as error:
        raise ConfigError(f"{what}: {error}") from None
    return Limit(float(rate), float(burst))
