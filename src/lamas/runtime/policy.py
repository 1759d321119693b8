"""Access policies: who may send what to whom. Asked by the transport before every delivery."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from lamas.errors import AccessDenied
from lamas.protocol.messages import Envelope


class AllowAll:
    """Every delivery is allowed (the default of an embedded network)."""

    def check(self, envelope: Envelope) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Rule:
    """Allows `sender` to ask `recipient` for `skill`; each is a glob (`*` matches anything).

    An envelope with no skill (an event or a reply) matches a rule whose skill is `*`.
    """

    sender: str = "*"
    recipient: str = "*"
    skill: str = "*"

    def matches(self, envelope: Envelope) -> bool:
        return (
            fnmatchcase(envelope.sender, self.sender)
            and fnmatchcase(envelope.recipient, self.recipient)
            and fnmatchcase(envelope.skill or "", self.skill)
        )


class RulePolicy:
    """Deny by default; a delivery passes when some rule allows it."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)

    def check(self, envelope: Envelope) -> None:
        if not any(rule.matches(envelope) for rule in self.rules):
            what = f"skill {envelope.skill!r}" if envelope.skill else "a message"
            raise AccessDenied(envelope.sender, envelope.recipient, f"no rule allows {what}")
