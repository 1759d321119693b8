"""The vault on the wire: the skills its holder serves, and the calls other agents make.

- `vault.grant` (the orchestrator, when the plan assigns a step): request data
  `{agent, fields, purpose, ttl?}` on the step's task; the reply is one `SealedRef` part
  per field and a data part `{grant_id, agent, fields, expires_at}`. No values.
- `vault.redeem` (the agent the step was assigned to, directly): the request carries
  the refs as `SealedRef` parts and a one-time public key (`seal_to`); the reply's data
  is exactly the granted fields, sealed to that key (`sealing.py`), so no store, log or
  task history between the vault and the agent ever holds them in plaintext.
- `vault.fingerprints` (a guard): keyed digests of the values, see `fingerprints.py`.

The caller's identity is the envelope's sender, which the receiving agent's signature
middleware has checked: a ref passed on to another agent does not open for it.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import Field, ValidationError

from lamas.errors import InputError, SchemaViolation
from lamas.privacy.fingerprints import Fingerprints, _Candidate
from lamas.privacy.sealing import SEAL_TO, SealKey, recipient, seal
from lamas.privacy.vault import DEFAULT_TTL, AuditSink, Vault
from lamas.protocol.messages import DataPart, Envelope, Message, SealedRef, Wire
from lamas.protocol.types import Context, Handler, Reply

GRANT_SKILL = "vault.grant"
REDEEM_SKILL = "vault.redeem"
FINGERPRINTS_SKILL = "vault.fingerprints"
VAULT_SKILLS = (GRANT_SKILL, REDEEM_SKILL, FINGERPRINTS_SKILL)

Send = Callable[[Envelope], Awaitable[Message]]


class GrantRequest(Wire):
    agent: str = Field(min_length=1, max_length=128)
    fields: tuple[str, ...] = Field(min_length=1)
    purpose: str = Field(min_length=1, max_length=500)
    ttl: float = Field(default=DEFAULT_TTL, gt=0, le=86_400)


def vault_handler(
    vault: Vault, *, other: Handler | None = None, audit: AuditSink | None = None
) -> Handler:
    """A handler serving the vault skills; envelopes for any other skill go to `other`."""

    async def handle(envelope: Envelope, context: Context) -> Reply:
        if envelope.skill == GRANT_SKILL:
            try:
                asked = GrantRequest.model_validate(envelope.message.data)
            except ValidationError as error:
                raise SchemaViolation(f"input to {GRANT_SKILL} is invalid: {error}") from None
            grant, refs = vault.grant(
                asked.agent,
                asked.fields,
                task_id=envelope.task_id or "",
                purpose=asked.purpose,
                by=envelope.sender,
                ttl=asked.ttl,
                record=audit,
            )
            about = {
                "grant_id": grant.id,
                "agent": grant.agent,
                "fields": list(grant.fields),
                "expires_at": grant.expires_at,
            }
            return Message(parts=(*refs, DataPart(data=about)))
        if envelope.skill == REDEEM_SKILL:
            key = recipient(envelope.message.data.get(SEAL_TO))  # before anything is spent
            values = vault.redeem(
                envelope.message.sealed_refs,
                agent=envelope.sender,
                task_id=envelope.task_id,
                record=audit,
            )
            return Message.of_data(
                seal(values, key, task_id=envelope.task_id, agent=envelope.sender)
            )
        if envelope.skill == FINGERPRINTS_SKILL:
            return Message.of_data(export_fingerprints(vault.fingerprints()))
        if other is None:
            served = ", ".join(VAULT_SKILLS)
            raise SchemaViolation(f"the vault serves {served}, not {envelope.skill!r}")
        return await other(envelope, context)

    return handle


def export_fingerprints(prints: Fingerprints) -> dict[str, Any]:
    def enc(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return {
        "key": enc(prints.key),
        "anchors": {
            enc(anchor): [[c.offset, c.length, enc(c.digest)] for c in candidates]
            for anchor, candidates in prints.anchors.items()
        },
        "names": {enc(digest): name for digest, name in prints.names.items()},
        "lengths": sorted(prints.anchor_lengths),
    }


def import_fingerprints(data: dict[str, Any]) -> Fingerprints:
    def dec(text: str) -> bytes:
        return base64.b64decode(text.encode())

    try:
        prints = Fingerprints(key=dec(data["key"]))
        for anchor, candidates in data["anchors"].items():
            prints.anchors[dec(anchor)] = [
                _Candidate(int(o), int(n), dec(d)) for o, n, d in candidates
            ]
        prints.names = {dec(d): str(name) for d, name in data["names"].items()}
        prints.anchor_lengths = {int(n) for n in data["lengths"]}
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"malformed vault fingerprints: {error!r}") from None
    return prints


async def request_grant(
    send: Send,
    *,
    sender: str,
    vault_agent: str,
    grantee: str,
    fields: Iterable[str],
    task_id: str,
    context_id: str | None = None,
    purpose: str,
) -> tuple[SealedRef, ...]:
    """Ask the vault's holder to grant `grantee` some fields for a task: the refs, no values."""
    reply = await send(
        Envelope(
            sender=sender,
            recipient=vault_agent,
            skill=GRANT_SKILL,
            task_id=task_id,
            context_id=context_id,
            message=Message.of_data({"agent": grantee, "fields": list(fields), "purpose": purpose}),
        )
    )
    return reply.sealed_refs


async def redeem(
    context: Context,
    envelope: Envelope,
    *,
    vault_agent: str,
    refs: Iterable[SealedRef] | None = None,
) -> dict[str, Any]:
    """Redeem the sealed refs of `envelope` (the request this agent is handling) directly
    with the vault's holder, on the same task: the granted fields' values."""
    sealed = tuple(envelope.message.sealed_refs if refs is None else refs)
    if not sealed:
        raise InputError(
            f"the request to {envelope.recipient} carries no sealed refs to the user's data; "
            "the step must be assigned with a vault grant"
        )
    key = SealKey()  # one-time: the values come back sealed to it (privacy/sealing.py)
    reply = await context.request(
        Envelope(
            sender=context.agent_id,
            recipient=vault_agent,
            skill=REDEEM_SKILL,
            task_id=envelope.task_id,
            context_id=envelope.context_id,
            message=Message(parts=(*sealed, DataPart(data={SEAL_TO: key.public}))),
        )
    )
    return key.open(reply.data, task_id=envelope.task_id, agent=context.agent_id)
