"""Token buckets, per-caller rate limits and query budgets, on a fake clock."""

from __future__ import annotations

import pytest

from lamas.agent import Agent
from lamas.errors import ConfigError, DeliveryError
from lamas.protocol.cards import AgentCard
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.types import Context, Reply
from lamas.runtime.network import Network
from lamas.security.ratelimit import (
    Limit,
    QueryBudget,
    RateLimited,
    RateLimits,
    TokenBucket,
    rate_limit,
)


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def envelope(sender: str, skill: str | None = None) -> Envelope:
    return Envelope(
        sender=sender, recipient="model", skill=skill, message=Message.of_text("what is x?")
    )


# --- token bucket -------------------------------------------------------------------------


def test_a_bucket_allows_a_burst_then_says_how_long_to_wait(clock: Clock) -> None:
    bucket = TokenBucket(rate_per_s=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    assert bucket.take(2) == pytest.approx(1.0)
    assert bucket.tokens == pytest.approx(0.0)  # a refused take takes nothing


def test_a_bucket_refills_over_time_up_to_its_burst(clock: Clock) -> None:
    bucket = TokenBucket(rate_per_s=2, burst=3, clock=clock)
    for _ in range(3):
        bucket.take()
    clock.now += 0.5  # exactly the wait it asked for
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 3600
    assert bucket.tokens == 3
    assert bucket.full
    assert [bucket.take() for _ in range(4)][-1] == pytest.approx(0.5)


def test_a_clock_that_steps_back_adds_no_tokens(clock: Clock) -> None:
    bucket = TokenBucket(rate_per_s=1, burst=1, clock=clock)
    bucket.take()
    clock.now -= 100
    assert bucket.take() == pytest.approx(1.0)


def test_a_bucket_refuses_nonsense(clock: Clock) -> None:
    with pytest.raises(ValueError, match="rate_per_s must be a positive number"):
        TokenBucket(0, 1, clock=clock)
    with pytest.raises(ValueError, match="burst must be at least 1"):
        TokenBucket(1, 0.5, clock=clock)
    with pytest.raises(ValueError, match=r"between 0 and the burst \(2\)"):
        TokenBucket(1, 2, clock=clock).take(3)  # would never be allowed


# --- rate limits per caller ---------------------------------------------------------------


def test_each_caller_has_a_bucket_of_its_own(clock: Clock) -> None:
    limits = RateLimits(default=(1, 2), per_caller={"partner": (10, 20), "ops": None}, clock=clock)
    assert limits.limit_of("stranger") == Limit(1, 2)
    assert [limits.take("stranger") for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert limits.take("other") == 0.0  # unaffected by the stranger's spending
    assert all(limits.take("partner") == 0.0 for _ in range(20))
    assert limits.take("partner") == pytest.approx(0.1)
    assert all(limits.take("ops") == 0.0 for _ in range(1000))  # None: no limit


def test_no_default_means_only_named_callers_are_limited(clock: Clock) -> None:
    limits = RateLimits(per_caller={"scraper": (1, 1)}, clock=clock)
    assert all(limits.take("anyone") == 0.0 for _ in range(100))
    assert limits.take("scraper") == 0.0
    assert limits.take("scraper") > 0


def test_limits_per_skill_count_separately(clock: Clock) -> None:
    limits = RateLimits(default=(1, 1), per_skill=True, clock=clock)
    limits.check(envelope("a", "search"))
    limits.check(envelope("a", "book"))
    with pytest.raises(RateLimited, match="1/s \\(burst 1\\) for skill 'search'"):
        limits.check(envelope("a", "search"))


def test_callers_can_be_grouped_by_entity(clock: Clock) -> None:
    entity = {"scraper-1": "Mallory", "scraper-2": "Mallory", "b": "Yhotel"}
    limits = RateLimits(default=(1, 1), caller=lambda e: entity[e.sender], clock=clock)
    limits.check(envelope("scraper-1"))
    with pytest.raises(RateLimited, match="'Mallory'") as raised:
        limits.check(envelope("scraper-2"))  # the same entity's other agent shares its bucket
    assert raised.value.caller == "Mallory"
    limits.check(envelope("b"))


def test_bad_limits_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="limit of 'x': rate_per_s must be a positive"):
        RateLimits(per_caller={"x": (0, 1)})
    with pytest.raises(ConfigError, match="default: burst must be at least 1"):
        RateLimits(default=(1, 0))


class Echo:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, envelope: Envelope, context: Context) -> Reply:
        self.calls += 1
        return Message.of_text(f"answer {self.calls}")


def limited_network(
    limiter: RateLimits | QueryBudget,
) -> tuple[Network, Echo, list[tuple[Envelope, Exception]]]:
    echo, refused = Echo(), list[tuple[Envelope, Exception]]()
    agent = Agent(
        AgentCard(id="model", name="Model", entity="Acme"),
        echo,
        middleware=[rate_limit(limiter, record=lambda e, error: refused.append((e, error)))],
    )
    return Network([agent]), echo, refused


async def test_the_middleware_refuses_a_caller_over_its_limit_only(clock: Clock) -> None:
    network, echo, refused = limited_network(RateLimits(default=(0.5, 2), clock=clock))
    for _ in range(2):
        await network.transport.request(envelope("scraper"))
    over = envelope("scraper")
    with pytest.raises(RateLimited) as raised:
        await network.transport.request(over)
    error = raised.value
    assert isinstance(error, DeliveryError)
    assert error.retry_after == pytest.approx(2.0)
    assert error.caller == "scraper"
    assert "'scraper' has used its limit of 0.5/s (burst 2) at 'model'" in str(error)
    assert "retry after 2.000 s" in str(error)
    assert refused == [(over, error)]
    assert echo.calls == 2  # the refused request never reached the handler

    reply = await network.transport.request(envelope("customer"))  # others are unaffected
    assert reply.text == "answer 3"
    clock.now += error.retry_after
    assert (await network.transport.request(envelope("scraper"))).text == "answer 4"


# --- query budgets ------------------------------------------------------------------------


def test_a_budget_allows_n_queries_in_any_window(clock: Clock) -> None:
    budget = QueryBudget(total_per_window=3, window_s=60, clock=clock)
    for _ in range(2):
        assert budget.take("a") == 0.0
    clock.now += 20
    assert budget.take("a") == 0.0
    assert budget.remaining("a") == 0
    assert budget.take("a") == pytest.approx(40.0)  # when the first two leave the window
    assert budget.remaining("b") == 3
    assert budget.take("b") == 0.0
    clock.now += 40
    assert budget.remaining("a") == 2
    assert budget.take("a") == 0.0
    assert budget.take("a") == 0.0
    assert budget.take("a") == pytest.approx(20.0)  # the third is still in its window


async def test_an_exhausted_budget_is_a_clear_error_with_retry_after(clock: Clock) -> None:
    network, echo, refused = limited_network(QueryBudget(2, 3600, clock=clock))
    await network.transport.request(envelope("scraper"))
    clock.now += 600
    await network.transport.request(envelope("scraper"))
    with pytest.raises(RateLimited, match="2 queries per 3600 s") as raised:
        await network.transport.request(envelope("scraper"))
    assert raised.value.retry_after == pytest.approx(3000.0)
    assert len(refused) == 1
    assert echo.calls == 2
    clock.now += 3000
    await network.transport.request(envelope("scraper"))
    assert echo.calls == 3


def test_a_budget_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="total_per_window must be at least 1"):
        QueryBudget(0, 60)
    with pytest.raises(ValueError, match="window_s must be a positive number"):
        QueryBudget(1, 0)


def test_idle_callers_are_forgotten_when_many_are_tracked(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lamas.security.ratelimit.MAX_TRACKED_CALLERS", 2)
    limits = RateLimits(default=(1, 1), clock=clock)
    budget = QueryBudget(1, 10, clock=clock)
    for caller in ("a", "b"):
        limits.take(caller)
        budget.take(caller)
    clock.now += 0.5  # neither is back to full yet: nothing can be forgotten without loss
    limits.take("c")
    budget.take("c")
    assert limits.take("a") > 0
    assert budget.take("a") > 0
    clock.now += 100  # now all are full again: forgetting them loses nothing
    limits.take("d")
    budget.take("d")
    assert len(limits._buckets) == 1
    assert len(budget._asked) == 1
