"""Vault values sealed to the agent that redeems them (HPKE, RFC 9180).

A `vault.redeem` reply used to carry the granted values in plaintext, so they sat in
every A2A task store, history and artifact the reply crossed. Now the redeemer makes a
fresh X25519 key pair for each redemption (`SealKey`), sends the public half with its
request (which its envelope signature binds to it), and the vault seals the values to
it: HPKE base mode, X25519 + HKDF-SHA256 + ChaCha20-Poly1305, from `cryptography`. The
HPKE `info` names the task and the redeeming agent, so a sealed reply opens for that
redemption only. What travels and is stored is ciphertext; the private half never
leaves the redeeming call, so the plaintext exists only in the vault and in the vendor.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from lamas.errors import InputError

SEAL_TO = "seal_to"
"""Request data key: the redeemer's one-time X25519 public key, base64."""
SEALED = "sealed"
"""Reply data key: the HPKE ciphertext of the values' JSON, base64."""
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
_DOMAIN = b"lamas.vault.redeem.v1\x00"


class SealError(InputError):
    """A seal key or a sealed reply is malformed, or does not open here."""


def _info(task_id: str | None, agent: str) -> bytes:
    return _DOMAIN + (task_id or "").encode() + b"\x00" + agent.encode()


class SealKey:
    """A one-time key pair for one redemption: `public` goes out, the values come back."""

    __slots__ = ("_private",)

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()

    @property
    def public(self) -> str:
        raw = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def open(self, reply: dict[str, Any], *, task_id: str | None, agent: str) -> dict[str, Any]:
        """The values a vault sealed to this key for `agent`'s redemption on `task_id`."""
        sealed = reply.get(SEALED)
        if not isinstance(sealed, str):
            raise SealError("the vault's reply carries no sealed values")
        try:
            plain = SUITE.decrypt(
                base64.b64decode(sealed), self._private, info=_info(task_id, agent)
            )
        except (binascii.Error, ValueError, InvalidTag):
            raise SealError(
                "the vault's sealed reply does not open with this redemption's key"
            ) from None
        values = json.loads(plain)
        if not isinstance(values, dict):
            raise SealError("the vault's sealed reply is not an object of values")
        return values

    def __repr__(self) -> str:  # never the secret
        return f"SealKey(public={self.public!r})"


def recipient(public: Any) -> X25519PublicKey:
    """The redeemer's key from a request's `seal_to` (`SealError` if it is not one)."""
    if not isinstance(public, str):
        raise SealError(
            f"vault.redeem needs '{SEAL_TO}': the redeemer's one-time X25519 public key "
            "(base64), so the values travel sealed; use lamas.privacy.redeem"
        )
    try:
        return X25519PublicKey.from_public_bytes(base64.b64decode(public, validate=True))
    except (binascii.Error, ValueError):
        raise SealError(f"'{SEAL_TO}' is not a base64 X25519 public key (32 bytes)") from None


def seal(
    values: dict[str, Any], key: X25519PublicKey, *, task_id: str | None, agent: str
) -> dict[str, str]:
    """`values` sealed to the redeemer's `key`, as reply data."""
    plain = json.dumps(values, sort_keys=True).encode()
    sealed = SUITE.encrypt(plain, key, info=_info(task_id, agent))
    return {SEALED: base64.b64encode(sealed).decode()}
