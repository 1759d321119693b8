"""Which agents are live: an offer from an agent that is not is withdrawn from choices.

An agent is live while it is in the network (a registry that drops an agent that stops
answering removes it there) and its last call did not fail for want of an answer
(unreachable, timed out) in the last `grace` seconds: after that it gets another
chance (it may have been restarted), and one good answer makes it live again. Its
failures in its own right (bad input, a declined card) say nothing about whether it is
there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from lamas.errors import UnknownAgent
from lamas.runtime.network import Network
from lamas.runtime.recovery.retry import is_transient


class Liveness:
    """The agents whose last call failed for want of an answer, and since when."""

    def __init__(self, grace: float = 5.0) -> None:
        self.grace = grace
        self.down: dict[str, float] = {}
        self._where: dict[str, str | None] = {}  # the url it failed at

    def answered(self, agent: str) -> None:
        self.down.pop(agent, None)

    def failed(self, agent: str, error: BaseException, where: str | None = None) -> None:
        """Note a failed call to `agent` (served at `where`, if known)."""
        if is_transient(error):
            self.down[agent] = time.monotonic()
            self._where[agent] = where

    def is_live(self, agent: str, network: Network) -> bool:
        try:
            card = network.card(agent)
        except UnknownAgent:  # dropped by the registry, or never there
            return False
        since = self.down.get(agent)
        if since is not None:
            where = self._where.get(agent)
            restarted = where is not None and card.url != where  # back, elsewhere
            if not restarted and time.monotonic() - since < self.grace:
                return False
            del self.down[agent]
        return True

    def live(self, agents: Iterable[str], network: Network) -> list[str]:
        return [a for a in agents if self.is_live(a, network)]
