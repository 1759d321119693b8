"""The defences every network built from a definition gets by default.

Each entity and each agent gets an Ed25519 key; each card is signed by its entity's
key; every agent verifies envelopes that cross an entity boundary (forged, tampered,
replayed and stale ones are rejected, recorded, never delivered), rate-limits its
callers and screens what other agents send for injected instructions (quarantined,
never delivered); the transport signs what local agents send. Keys here are made per run,
in memory: the embedded mode's single process holds them all. A deployment with
agents on other machines gives each agent only its own key (`lamas ledger keygen`
makes key files).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from lamas.protocol.cards import AgentCard
from lamas.protocol.messages import Envelope
from lamas.protocol.types import Middleware
from lamas.security.detector import Detector, QuarantineLog, screen
from lamas.security.identity import PrivateKey
from lamas.security.ratelimit import Exempt, RateLimits, rate_limit
from lamas.security.signing import (
    Directory,
    ReplayGuard,
    sign_card,
    sign_envelope,
    verify_signatures,
)

DEFAULT_RATE = (50.0, 200.0)
"""Per caller, per agent: 50 requests a second sustained, bursts of 200."""


@dataclass
class Defences:
    directory: Directory
    agent_keys: dict[str, PrivateKey]
    entity_keys: dict[str, PrivateKey]
    limits: RateLimits
    guard: ReplayGuard = field(default_factory=ReplayGuard)
    detector: Detector = field(default_factory=Detector)
    quarantine: QuarantineLog = field(default_factory=QuarantineLog)
    rejected: list[tuple[Envelope, Exception]] = field(default_factory=list)
    platform: frozenset[str] = frozenset()
    """The platform's own agents (the hub): not rate-limited like outside callers."""

    def signed_card(self, card: AgentCard) -> AgentCard:
        return sign_card(card, self.entity_keys[card.entity])

    def middleware(self) -> list[Middleware]:
        """Outermost first: prove who is calling, count their calls, then screen what
        they send for injected instructions (known-pattern rules: cheap enough for every
        message; the model-based perplexity layer is for agents that feed a model)."""
        return [
            verify_signatures(self.directory, guard=self.guard, record=self._record),
            rate_limit(Exempt(self.limits, self.platform)),
            screen(self.detector, quarantine=self.quarantine),
        ]

    def signers(self) -> dict[str, Callable[[Envelope], Envelope]]:
        return {agent: partial(sign_envelope, key=key) for agent, key in self.agent_keys.items()}

    def _record(self, envelope: Envelope, error: Exception) -> None:
        self.rejected.append((envelope, error))


def default_defences(
    cards: Iterable[AgentCard],
    *,
    callers: Iterable[str] = (),
    rate: tuple[float, float] = DEFAULT_RATE,
    seed: bytes | None = None,
) -> Defences:
    """Keys for every agent of `cards` and for `callers` (senders from outside the network,
    like the user at the command line: each its own entity, its key held by this host).

    With `seed`, every key is derived from it (HMAC-SHA256 of the seed and the key's
    name), so that the processes of one distributed run (Ray shards, each building its
    own agents) hold the same keys; the seed is then as secret as the keys themselves.
    """

    def new_key(name: str) -> PrivateKey:
        return PrivateKey.generate() if seed is None else _derived_key(seed, name)

    cards = list(cards)
    agents = {card.id for card in cards}
    outside = [c for c in dict.fromkeys(callers) if c not in agents]
    entities = {c.entity for c in cards} | set(outside)
    entity_keys = {entity: new_key(f"entity:{entity}") for entity in sorted(entities)}
    agent_keys = {name: new_key(f"agent:{name}") for name in [*agents, *outside]}
    directory = Directory()
    for entity, key in entity_keys.items():
        directory.add_entity(entity, key)
    for card in cards:
        directory.admit(sign_card(card, entity_keys[card.entity]), agent_keys[card.id])
    for caller in outside:
        directory.add_agent(caller, caller, agent_keys[caller])
    return Defences(directory, agent_keys, entity_keys, RateLimits(default=rate))


def _derived_key(seed: bytes, name: str) -> PrivateKey:
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = hmac.new(seed, name.encode(), hashlib.sha256).digest()
    return PrivateKey(Ed25519PrivateKey.from_private_bytes(raw))
