"""Wiring privacy into a running network: the vault's audit into the ledger, the
orchestrator's guard from the vault's fingerprints, and a centralized orchestrator's
own profile reads recorded like any other read.
"""

from __future__ import annotations

from collections.abc import Callable

from lamas.economy.ledger import Ledger
from lamas.privacy.guard import PrivacyGuard
from lamas.privacy.service import FINGERPRINTS_SKILL, import_fingerprints
from lamas.privacy.vault import AccessRecord, AuditSink
from lamas.protocol.ledger import DataAccess, EntryKind
from lamas.protocol.messages import Envelope, Message
from lamas.runtime.network import Network

NO_TASK = "(no task)"
PROFILE_SKILL = "profile.get"
KINDS = {
    "granted": EntryKind.VAULT_GRANTED,
    "read": EntryKind.VAULT_READ,
    "refused": EntryKind.VAULT_REFUSED,
}


def ledger_sink(ledger: Ledger | Callable[[], Ledger]) -> AuditSink:
    """An audit sink appending each grant, read and refusal to `ledger` (or to the ledger
    a factory opens on the first record). Field names and reasons only: no values."""
    opened: list[Ledger] = [ledger] if isinstance(ledger, Ledger) else []

    def record(entry: AccessRecord) -> None:
        if not opened:
            assert callable(ledger)
            opened.append(ledger())
        opened[0].append(
            KINDS[entry.kind],
            task_id=entry.task_id or NO_TASK,
            agent=entry.agent,
            payload=DataAccess(
                vault_id=entry.vault_id,
                fields=entry.fields,
                purpose=entry.purpose[:500],
                grant_id=entry.grant_id,
                by=entry.by,
                reason=entry.reason,
            ),
        )

    return record


async def guard_from_network(network: Network, sender: str) -> PrivacyGuard:
    """A guard holding the fingerprints of every vault in `network` (none: an empty guard).

    A vault that does not answer is a `LamasError`: a guard that silently knew nothing
    would let every value through.
    """
    guard = PrivacyGuard()
    for card in network.find(FINGERPRINTS_SKILL):
        reply = await network.transport.request(
            Envelope(
                sender=sender,
                recipient=card.id,
                skill=FINGERPRINTS_SKILL,
                message=Message.of_data({}),
            ),
            timeout=30,
        )
        guard.add(import_fingerprints(reply.data))
    return guard


def profile_read_observer(ledger: Ledger, network: Network) -> Callable[[Envelope], None]:
    """A transport observer recording every `profile.get` on a task as a read of the user's
    data by its sender: in a centralized network that sender is the orchestrator."""

    def observe(envelope: Envelope) -> None:
        if envelope.skill != PROFILE_SKILL or envelope.kind != "request":
            return
        fields = envelope.message.data.get("fields")
        names = tuple(f for f in (fields if isinstance(fields, list) else ()) if isinstance(f, str))
        if not names or not all(1 <= len(f) <= 128 for f in names):
            return  # a malformed request is refused by the agent itself: nothing is read
        ledger.append(
            EntryKind.VAULT_READ,
            task_id=envelope.task_id or NO_TASK,
            agent=envelope.sender,
            payload=DataAccess(
                vault_id=envelope.recipient,
                fields=names,
                purpose=f"{PROFILE_SKILL}: the profile itself, without a grant",
                by=envelope.sender,
            ),
        )

    return observe
