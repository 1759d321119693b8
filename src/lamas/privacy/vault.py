"""The user's vault: the profile, encrypted at rest, read only through grants.

The Personal Agent holds it (paper §3.1, §4.2: data domains). Each field is sealed with
AES-256-GCM under the vault key, bound to the vault id and the field name (a sealed
value moved to another field or vault does not open). A check value sealed the same way
tells a wrong key from a right one on open: `VaultKeyError`, never garbage.

Access is by grant only. When the plan assigns a step to an agent, the orchestrator asks
the vault for a `Grant` (which agent, which fields, which task, until when, for what);
the vault answers with `SealedRef`s, one per field, each with an unguessable token, and
no values. The agent redeems the refs directly with the vault and gets exactly the
granted fields. Every grant, read and refusal goes to the `audit` sink (the ledger);
redeeming without a grant, after expiry, for another task or as another agent raises
`AccessRefused`, recorded first.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lamas.errors import AccessRefused, InputError, VaultKeyError
from lamas.privacy.fingerprints import Fingerprints
from lamas.privacy.keys import VaultKey, load_key
from lamas.protocol.messages import SealedRef, new_id

FORMAT = "lamas-vault/1"
DEFAULT_TTL = 600.0
"""Seconds a grant lives: long enough for a task's steps, short enough to go stale."""
_CHECK = b"lamas vault key check"

AccessKind = Literal["granted", "read", "refused"]


@dataclass(frozen=True, slots=True)
class Grant:
    """Permission for one agent to read some fields, for one task, until expiry; each of
    its refs opens once."""

    id: str
    vault_id: str
    agent: str
    fields: tuple[str, ...]
    task_id: str
    purpose: str
    expires_at: float
    by: str | None = None  # who asked for it (the orchestrator that assigned the step)


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One grant, read or refusal: field names and reasons, never values."""

    kind: AccessKind
    vault_id: str
    agent: str
    task_id: str | None
    fields: tuple[str, ...]
    purpose: str = ""
    grant_id: str | None = None
    by: str | None = None
    reason: str = ""
    at: float = 0.0


AuditSink = Callable[[AccessRecord], None]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


class Vault:
    """A user's profile, one sealed value per field, in a file (or in memory)."""

    def __init__(
        self,
        key: VaultKey,
        *,
        vault_id: str | None = None,
        path: Path | None = None,
        audit: AuditSink | None = None,
        consent: Mapping[str, Iterable[str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.key = key
        self.id = vault_id or f"vault-{new_id()[:16]}"
        self.path = path
        self.audit = audit
        # The owner's consent: which fields each agent may ever be granted (None: any field
        # the grant request names). A grant beyond it is refused whoever asks.
        self.consent = {a: frozenset(f) for a, f in consent.items()} if consent else None
        self.clock = clock
        self._aead = AESGCM(key.secret)
        self._sealed: dict[str, str] = {}
        self._grants: dict[str, Grant] = {}
        self._tokens: dict[str, tuple[str, str]] = {}  # token -> (grant id, field)
        self._spent: dict[str, tuple[str, str]] = {}  # tokens already redeemed

    # --- storage -------------------------------------------------------------------------

    @classmethod
    def create(
        cls, profile: Mapping[str, Any], key: VaultKey | str | None = None, **options: Any
    ) -> Vault:
        """A new vault holding `profile`; with `path=`, written there (never over a file)."""
        vault = cls(load_key(key, create=True), **options)
        if vault.path is not None and vault.path.exists():
            raise InputError(f"{vault.path} exists; open it with Vault.open instead")
        for name, value in profile.items():
            vault._sealed[name] = vault._seal(name, value)
        vault._save()
        return vault

    @classmethod
    def open(cls, path: Path, key: VaultKey | str | None = None, **options: Any) -> Vault:
        """The vault in `path`; a wrong key is a `VaultKeyError` before anything is read."""
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read the vault file {path}: {error}") from None
        if not isinstance(stored, dict) or stored.get("format") != FORMAT:
            raise InputError(f"{path} is not a lamas vault (no {FORMAT!r} format tag)")
        vault = cls(load_key(key), vault_id=stored["vault_id"], path=path, **options)
        if vault._open("", stored["check"]) != _CHECK:
            raise VaultKeyError(f"{path}: the check value opened to something else")
        vault._sealed = dict(stored["fields"])
        return vault

    def _save(self) -> None:
        if self.path is None:
            return
        body = {
            "format": FORMAT,
            "vault_id": self.id,
            "check": self._seal_bytes("", _CHECK),
            "fields": self._sealed,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(body, indent=1), encoding="utf-8")
        os.replace(temporary, self.path)  # atomic: a crash leaves the old file or the new

    def _seal_bytes(self, name: str, raw: bytes) -> str:
        nonce = os.urandom(12)
        return _b64(nonce + self._aead.encrypt(nonce, raw, f"{self.id}/{name}".encode()))

    def _seal(self, name: str, value: Any) -> str:
        return self._seal_bytes(name, json.dumps(value, ensure_ascii=False).encode())

    def _open(self, name: str, sealed: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        raw = base64.urlsafe_b64decode(sealed.encode())
        try:
            return self._aead.decrypt(raw[:12], raw[12:], f"{self.id}/{name}".encode())
        except InvalidTag:
            where = self.path or "this vault"
            raise VaultKeyError(
                f"{where} cannot be opened with the vault key from {self.key.source}: the key "
                "is not the one it was sealed with, or the file was altered; give the right "
                "key ($LAMAS_VAULT_KEY or the key file)"
            ) from None

    def reveal(self, name: str) -> Any:
        """A field's value for the vault's holder itself (the user's own agent, e.g. voting
        by the user's preferences): not an access by anyone else, so not recorded."""
        if name not in self._sealed:
            raise InputError(f"no field {name!r} in the vault; it has {', '.join(self._sealed)}")
        return self._value(name)

    def put(self, name: str, value: Any) -> None:
        self._sealed[name] = self._seal(name, value)
        self._save()

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._sealed)

    def _value(self, name: str) -> Any:
        return json.loads(self._open(name, self._sealed[name]))

    def fingerprints(self) -> Fingerprints:
        """Keyed digests of every value, for a guard that must recognise, not read, them."""
        return Fingerprints.of({name: self._value(name) for name in self._sealed})

    # --- grants ----------------------------------------------------------------------------

    def grant(
        self,
        agent: str,
        fields: Sequence[str],
        *,
        task_id: str,
        purpose: str,
        by: str | None = None,
        ttl: float = DEFAULT_TTL,
        record: AuditSink | None = None,
    ) -> tuple[Grant, tuple[SealedRef, ...]]:
        """Let `agent` read `fields` for `task_id`; the refs to hand it, without values."""
        unknown = [f for f in fields if f not in self._sealed]
        if unknown or not fields:
            raise InputError(
                f"cannot grant {', '.join(unknown) or 'no fields'}: the vault has "
                f"{', '.join(self._sealed)}"
            )
        if by is not None and by == agent:
            self._record(
                record,
                "refused",
                agent,
                task_id,
                tuple(fields),
                purpose=purpose,
                by=by,
                reason="an agent cannot grant itself",
            )
            raise AccessRefused(f"{by!r} asked for a grant to itself; only other agents get one")
        if not task_id or ttl <= 0:
            raise InputError("a grant needs the task it is for and a positive ttl")
        if self.consent is not None:
            beyond = sorted(set(fields) - self.consent.get(agent, frozenset()))
            if beyond:
                self._record(
                    record,
                    "refused",
                    agent,
                    task_id,
                    tuple(fields),
                    purpose=purpose,
                    by=by,
                    reason=f"no consent for {agent} to read {', '.join(beyond)}",
                )
                raise AccessRefused(
                    f"the user has not consented to {agent!r} reading {', '.join(beyond)}"
                )
        grant = Grant(
            f"grant-{new_id()[:16]}",
            self.id,
            agent,
            tuple(dict.fromkeys(fields)),
            task_id,
            purpose,
            self.clock() + ttl,
            by,
        )
        self._grants[grant.id] = grant
        refs = []
        for name in grant.fields:
            token = secrets.token_urlsafe(24)
            self._tokens[token] = (grant.id, name)
            refs.append(SealedRef(field=name, vault_id=self.id, token=token))
        self._record(
            record,
            "granted",
            agent,
            task_id,
            grant.fields,
            purpose=purpose,
            grant_id=grant.id,
            by=by,
        )
        return grant, tuple(refs)

    def redeem(
        self,
        refs: Sequence[SealedRef],
        *,
        agent: str,
        task_id: str | None,
        record: AuditSink | None = None,
    ) -> dict[str, Any]:
        """The values behind `refs`, for `agent` working on `task_id`, or `AccessRefused`
        (recorded) if any ref is unknown, expired, for another task or another agent."""
        if not refs:
            raise InputError("nothing to redeem: the request carries no sealed refs")
        refs = list({ref.token: ref for ref in refs}.values())  # the same ref twice is one
        values: dict[str, Any] = {}
        by_grant: dict[str, list[str]] = {}
        for ref in refs:
            reason = self._refusal(ref, agent, task_id)
            if reason is not None:
                issued = self._tokens.get(ref.token) or self._spent.get(ref.token)
                grant = self._grants.get(issued[0]) if issued else None
                self._record(
                    record,
                    "refused",
                    agent,
                    task_id,
                    (ref.field,),
                    reason=reason,
                    grant_id=grant.id if grant else None,
                    purpose=grant.purpose if grant else "",
                )
                raise AccessRefused(f"{agent!r} may not read {ref.field!r}: {reason}")
            grant_id, name = self._tokens[ref.token]
            by_grant.setdefault(grant_id, []).append(name)
            values[name] = self._value(name)
        for ref in refs:
            self._spent[ref.token] = self._tokens.pop(ref.token)  # a ref opens once
        for grant_id, names in by_grant.items():
            grant = self._grants[grant_id]
            self._record(
                record,
                "read",
                agent,
                task_id,
                tuple(names),
                purpose=grant.purpose,
                grant_id=grant_id,
                by=grant.by,
            )
        return values

    def _refusal(self, ref: SealedRef, agent: str, task_id: str | None) -> str | None:
        if ref.vault_id != self.id:
            return f"the ref is for vault {ref.vault_id}, not {self.id}"
        entry = self._tokens.get(ref.token)
        if entry is None:
            spent = ref.token in self._spent
            return "the ref was redeemed already" if spent else "no grant issued this ref"
        grant = self._grants[entry[0]]
        if entry[1] != ref.field:
            return f"the ref's token was granted for {entry[1]!r}, not {ref.field!r}"
        if grant.agent != agent:
            return f"the grant is for {grant.agent!r}"
        if grant.task_id != task_id:
            return f"the grant is for task {grant.task_id}, not {task_id}"
        if self.clock() >= grant.expires_at:
            return f"the grant expired {self.clock() - grant.expires_at:.0f}s ago"
        return None

    def read(
        self,
        fields: Sequence[str],
        *,
        agent: str,
        task_id: str | None,
        purpose: str,
        record: AuditSink | None = None,
    ) -> dict[str, Any]:
        """A direct, recorded read (the centralized architecture, where the orchestrator
        itself reads the profile): no grant, but the ledger still says who read what."""
        unknown = [f for f in fields if f not in self._sealed]
        if unknown:
            raise InputError(f"no field {', '.join(unknown)} in the vault")
        self._record(record, "read", agent, task_id, tuple(fields), purpose=purpose)
        return {name: self._value(name) for name in fields}

    def grants(self, task_id: str | None = None) -> list[Grant]:
        return [g for g in self._grants.values() if task_id is None or g.task_id == task_id]

    def _record(
        self,
        record: AuditSink | None,
        kind: AccessKind,
        agent: str,
        task_id: str | None,
        fields: tuple[str, ...],
        **details: Any,
    ) -> None:
        entry = AccessRecord(kind, self.id, agent, task_id, fields, at=self.clock(), **details)
        for sink in (record, self.audit):
            if sink is not None:
                sink(entry)


VAULT_DIR_ENV = "LAMAS_VAULT_DIR"


def vault_path(name: str) -> Path:
    """Where the vault called `name` lives: `$LAMAS_VAULT_DIR`, else `LAMAS_HOME/vaults`."""
    from lamas.config import lamas_home

    folder = os.environ.get(VAULT_DIR_ENV) or lamas_home() / "vaults"
    return Path(folder) / f"{name}.vault"


def open_or_create(
    path: Path,
    seed: Callable[[], Mapping[str, Any]],
    key: VaultKey | str | None = None,
    **options: Any,
) -> Vault:
    """The vault in `path`, made from `seed()` the first time (with a key made if none is
    configured). Once made, the file is the truth: the seed is not read again."""
    if path.exists():
        return Vault.open(path, key, **options)
    return Vault.create(seed(), key, path=path, **options)
