"""Admission control: under load, tasks queue; beyond the queue, they are refused at the
edge with "busy, retry after" instead of failing midway.

`Admission` lets `max_active` tasks run at once and `max_waiting` more wait their turn
(first come, first served); a task beyond that is refused at once with `Busy`, which
says when to try again (an estimate from how long tasks have been taking). The A2A edge
asks `busy_for()` before it takes a request, and answers HTTP 503 with `Retry-After`.

`Lanes` bounds how many requests the orchestrator has in flight to any one agent, so a
burst of tasks queues at the platform instead of piling onto one vendor.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from lamas.errors import ConfigError, DeliveryError


class Busy(DeliveryError):
    """The platform is at capacity: the task was not started; try again after `retry_after` s."""

    def __init__(self, where: str, retry_after: float) -> None:
        self.where = where
        self.retry_after = retry_after
        super().__init__(
            f"busy, retry after {math.ceil(retry_after)} s: {where} is running and queueing "
            "as many tasks as it can; the task was not started"
        )


class Admission:
    """At most `max_active` tasks at once and `max_waiting` queued; the rest get `Busy`."""

    def __init__(
        self, max_active: int = 64, max_waiting: int = 2048, *, name: str = "the orchestrator"
    ) -> None:
        if max_active < 1 or max_waiting < 0:
            raise ConfigError(
                "admission needs max_active >= 1 and max_waiting >= 0, "
                f"got {max_active}, {max_waiting}"
            )
        self.max_active = max_active
        self.max_waiting = max_waiting
        self.name = name
        self.active = 0
        self.waiting = 0
        self.refused = 0
        self._slots = asyncio.Semaphore(max_active)
        self._mean_seconds = 1.0  # a running mean of task time, for Retry-After

    def busy_for(self) -> float | None:
        """None if a new task would be admitted now, else the seconds to wait."""
        if self.active < self.max_active or self.waiting < self.max_waiting:
            return None
        return self.retry_after()

    def retry_after(self) -> float:
        """How long the tasks ahead of a newcomer should take, between 1 s and 60 s."""
        ahead = (self.waiting + self.active) / self.max_active
        return min(60.0, max(1.0, ahead * self._mean_seconds))

    @asynccontextmanager
    async def admit(self, *, refuse: bool = True) -> AsyncIterator[None]:
        """Run one task's work inside this block; raises `Busy` if it cannot even queue
        (unless `refuse` is False: a task already accepted waits its turn regardless)."""
        wait = self.busy_for() if refuse else None
        if wait is not None:
            self.refused += 1
            raise Busy(self.name, wait)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.active += 1
        started = time.monotonic()
        try:
            yield
        finally:
            self.active -= 1
            self._slots.release()
            self._mean_seconds = 0.9 * self._mean_seconds + 0.1 * (time.monotonic() - started)


class Lanes:
    """A bounded number of requests in flight per agent; the rest wait in line."""

    def __init__(self, per_agent: int = 32) -> None:
        if per_agent < 1:
            raise ConfigError(f"per-agent concurrency must be at least 1, got {per_agent}")
        self.per_agent = per_agent
        self._lanes: dict[str, asyncio.Semaphore] = {}

    def lane(self, agent: str) -> asyncio.Semaphore:
        lane = self._lanes.get(agent)
        if lane is None:
            lane = self._lanes[agent] = asyncio.Semaphore(self.per_agent)
        return lane
