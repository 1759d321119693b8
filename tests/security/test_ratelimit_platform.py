"""The platform's own calls (the hub acting for a task) are not throttled like an
outside caller's; everyone else still is."""

from __future__ import annotations

import pytest

from lamas.protocol import Envelope
from lamas.protocol.messages import Message
from lamas.security.ratelimit import Exempt, RateLimited, RateLimits


def envelope(sender: str) -> Envelope:
    return Envelope(sender=sender, recipient="personal", message=Message.of_text("hi"))


def test_the_platform_hub_is_exempt_and_outside_callers_are_still_limited() -> None:
    limits = Exempt(RateLimits(default=(1.0, 2.0), clock=lambda: 0.0), ["orchestrator"])
    for _ in range(1000):
        limits.check(envelope("orchestrator"))
    limits.check(envelope("railgo"))
    limits.check(envelope("railgo"))
    with pytest.raises(RateLimited):
        limits.check(envelope("railgo"))
