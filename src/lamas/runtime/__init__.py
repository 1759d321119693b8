"""Runtime: transports that move envelopes and the network that routes them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamas._lazy import exports

if TYPE_CHECKING:
    from lamas.runtime.network import Balance, Network
    from lamas.runtime.policy import AllowAll, Rule, RulePolicy
    from lamas.runtime.transport import AccessPolicy, DeadLetter, LocalTransport, Transport

__all__ = [
    "AccessPolicy",
    "AllowAll",
    "Balance",
    "DeadLetter",
    "LocalTransport",
    "Network",
    "Rule",
    "RulePolicy",
    "Transport",
]

# Where each public name lives; loaded on first access (lamas._lazy).
_HOME: dict[str, str] = {
    "AccessPolicy": "lamas.runtime.transport",
    "AllowAll": "lamas.runtime.policy",
    "Balance": "lamas.runtime.network",
    "DeadLetter": "lamas.runtime.transport",
    "LocalTransport": "lamas.runtime.transport",
    "Network": "lamas.runtime.network",
    "Rule": "lamas.runtime.policy",
    "RulePolicy": "lamas.runtime.policy",
    "Transport": "lamas.runtime.transport",
}

__getattr__, __dir__ = exports(__name__, _HOME, globals())
