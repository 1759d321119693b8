"""The one exception tree of lamas.

Every error says what was wrong and, where there is one, what to do about it.
Bad input from outside (a message, a card, a config) raises a subclass of
`InputError` and changes nothing.
"""

from __future__ import annotations


class LamasError(Exception):
    """Base of every error lamas raises on purpose."""


# --- bad input from outside -------------------------------------------------


class InputError(LamasError):
    """Something handed to lamas from outside is malformed or inconsistent."""


class MalformedMessage(InputError):
    """A wire object (envelope, message, part, card, task, plan) failed validation."""

    def __init__(self, what: str, problems: list[str]) -> None:
        self.what = what
        self.problems = problems
        listed = "; ".join(problems) if problems else "no details"
        super().__init__(f"malformed {what}: {listed}")


class TooLarge(InputError):
    """An input is over a configured size limit; it was refused whole, and nothing changed."""

    def __init__(self, what: str, size: int, limit: int, unit: str, setting: str) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"{what} is {size:,} {unit}, over the limit of {limit:,} {unit}; "
            f"send less, or raise {setting}"
        )


class InvalidPlan(InputError):
    """A plan is not a DAG over known steps."""


class InvalidTransition(InputError):
    """A task was asked to move to a state it cannot reach from where it is."""


class ConfigError(InputError):
    """A network definition, model name or setting is wrong."""


class SchemaViolation(InputError):
    """Arguments do not satisfy a skill's or tool's JSON Schema."""


class UnknownTerm(InputError):
    """A name a skill's vocabulary does not know (a city, station, genre...), with the
    closest known names as structured suggestions, so a caller can retry with the single
    good one or ask the user to choose instead of failing.

    `details` is `{slot, value, kind, suggestions, ambiguous}`; the message says the same in
    words (`unknown destination 'Marseile': did you mean "Marseille"?`) for callers that only
    get the text (a remote agent's error).
    """

    def __init__(
        self,
        message: str,
        *,
        slot: str | None,
        value: str,
        kind: str,
        suggestions: tuple[str, ...] = (),
        ambiguous: bool = False,
    ) -> None:
        self.slot = slot
        self.value = value
        self.kind = kind
        self.suggestions = tuple(suggestions)
        self.ambiguous = ambiguous
        super().__init__(message)

    @property
    def details(self) -> dict[str, object]:
        return {
            "slot": self.slot,
            "value": self.value,
            "kind": self.kind,
            "suggestions": list(self.suggestions),
            "ambiguous": self.ambiguous,
        }


# --- routing and delivery ---------------------------------------------------


class DeliveryError(LamasError):
    """An envelope could not be delivered or answered."""


class UnknownAgent(DeliveryError):
    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        super().__init__(
            f"no agent {agent_id!r} is registered on this transport; "
            "register it first or check the recipient id"
        )


class DuplicateAgent(DeliveryError):
    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        super().__init__(f"an agent {agent_id!r} is already registered; agent ids must be unique")


class NoCapability(DeliveryError):
    def __init__(self, capability: str, known: list[str]) -> None:
        self.capability = capability
        shown = ", ".join(sorted(known)[:20]) or "none"
        super().__init__(f"no registered agent offers capability {capability!r} (known: {shown})")


class AccessDenied(DeliveryError):
    def __init__(self, sender: str, recipient: str, reason: str) -> None:
        self.sender = sender
        self.recipient = recipient
        self.reason = reason
        super().__init__(f"access denied: {sender!r} may not send to {recipient!r}: {reason}")


class DeadlineExceeded(DeliveryError):
    def __init__(self, recipient: str, seconds: float) -> None:
        self.recipient = recipient
        self.seconds = seconds
        super().__init__(f"{recipient!r} did not reply within its deadline ({seconds:.3f} s)")


class TransportClosed(DeliveryError):
    """The transport was closed while an envelope was in flight."""


# --- models -----------------------------------------------------------------


class ModelError(LamasError):
    """A chat model failed to load or to answer."""


class ModelNotInstalled(ModelError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"model {name!r} is not installed; run `lamas models install {name}` "
            "(`lamas models list` shows what is available)"
        )


class UnknownModel(ConfigError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"unknown model {name!r}; known models: {', '.join(known)}")


class ModelOutputError(ModelError):
    """The model's answer does not parse or does not satisfy the requested schema."""


# --- tools ------------------------------------------------------------------


class ToolError(LamasError):
    """A tool is unknown, or was defined wrongly."""


class AgentUnreachable(DeliveryError):
    """A networked agent did not answer at all (refused, reset, no such host)."""

    def __init__(self, agent: str, reason: str) -> None:
        self.agent = agent
        super().__init__(
            f"agent {agent!r} could not be reached: {reason}; check that it is running and "
            "that its card's url is right (a registry drops agents that stop answering)"
        )


class RemoteError(DeliveryError):
    """A networked agent answered, but its task failed, was rejected or was canceled."""

    def __init__(self, agent: str, reason: str) -> None:
        self.agent = agent
        super().__init__(f"agent {agent!r} did not complete the request: {reason}")


# --- privacy ----------------------------------------------------------------


class PrivacyError(LamasError):
    """A privacy rule stopped something: a vault access, a leak, a spent budget."""


class VaultKeyError(PrivacyError):
    """The vault's key is missing, malformed, or not the key the vault was sealed with."""


class AccessRefused(PrivacyError):
    """A vault field was asked for without a valid grant (none, expired, another task or
    another agent). The refusal is recorded in the ledger."""


class VaultValueLeak(PrivacyError):
    """An envelope that must carry only sealed references carried a vault value."""


class BudgetExhausted(PrivacyError):
    """A differentially private query would spend more privacy budget than is left."""
