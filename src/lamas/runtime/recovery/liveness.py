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

    def answered(self, agent: str) -> None:
        self.down.pop(agent, None)

    def failed(self, agent: str, error: BaseException) -> None:
        if is_transient(error):
            self.down[agent] = time.monotonic()

    def is_live(self, agent: str, network: Network) -> bool:
        since = self.down.get(agent)
        if since is not None:
            if time.monotonic() - since < self.grace:
                return False
            del self.down[agent]
        try:
            network.card(agent)
        except UnknownAgent:  # dropped by the registry, or never there
            return False
        return True

    def live(self, agents: Iterable[str], network: Network) -> list[str]:
        return [a for a in agents if self.is_live(a, network)]
