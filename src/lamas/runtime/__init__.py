"""Runtime: transports that move envelopes and the network that routes them."""

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
