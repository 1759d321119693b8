"""Bearer tokens that prove which agent is calling: JWTs signed with the agent's own key.

Every A2A call between lamas nodes carries `Authorization: Bearer <token>`, a compact JWT
(RFC 7519) signed with EdDSA (RFC 8037) by the calling agent's registered Ed25519 key, the
same key that signs its envelopes. Its claims: `iss` the calling agent's id, `aud` the
called agent's id (a token for one agent opens nothing at another), `iat` and `exp` (a
short life, `TOKEN_SECONDS`), `jti` a random id. The header's `kid` names the key, which
the receiver's `Directory` must bind to `iss`.

Why a token and not only the envelope signature: `GetTask`, `ListTasks`, `CancelTask` and
the other task methods carry no envelope, yet must be answered only to the task's owner.
The card declares the scheme (HTTP bearer, format JWT), so any A2A client knows what to send.
A token is not single-use: within its life it can be replayed by whoever sees it, so run
public nodes behind TLS (docs/security.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from lamas.errors import InputError
from lamas.security.identity import PrivateKey
from lamas.security.signing import Directory

TOKEN_SECONDS = 120.0
"""How long a minted token is valid."""
SKEW_SECONDS = 30.0
"""How far apart two nodes' clocks may be."""
MAX_TOKEN_CHARS = 2_048


class TokenRefused(InputError):
    """A bearer token does not prove who is calling; `reason` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"bearer token refused: {reason}")


@dataclass(frozen=True, slots=True)
class Bearer:
    """Who a checked token proves the caller to be."""

    agent: str
    key_id: str
    expires: float


def mint(key: PrivateKey, issuer: str, audience: str, *, now: float | None = None) -> str:
    """A token by which `issuer` (holding `key`) calls `audience`."""
    issued = time.time() if now is None else now
    header = {"alg": "EdDSA", "typ": "JWT", "kid": key.id}
    claims = {
        "iss": issuer,
        "aud": audience,
        "iat": int(issued),
        "exp": int(issued + TOKEN_SECONDS),
        "jti": secrets.token_urlsafe(12),
    }
    signing_input = f"{_b64(_json(header))}.{_b64(_json(claims))}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"


def check(token: str, directory: Directory, audience: str, *, now: float | None = None) -> Bearer:
    """The caller `token` proves, or `TokenRefused` naming what is wrong with it."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused(f"it is longer than {MAX_TOKEN_CHARS} characters")
    pieces = token.split(".")
    if len(pieces) != 3:
        raise TokenRefused("it is not a JWT (three base64url parts joined by '.')")
    header, claims = _part(pieces[0], "header"), _part(pieces[1], "claims")
    if header.get("alg") != "EdDSA":
        raise TokenRefused(f"its algorithm is {header.get('alg')!r}; lamas accepts EdDSA only")
    issuer, key_id = claims.get("iss"), header.get("kid")
    if not isinstance(issuer, str) or not isinstance(key_id, str):
        raise TokenRefused("it names no issuer (iss) or key (kid)")
    key = directory.keyring.get(key_id)
    if key is None or directory.agent_of_key(key_id) != issuer:
        raise TokenRefused(f"key {key_id} is not a registered key of agent {issuer!r}")
    try:
        signature = base64.urlsafe_b64decode(_padded(pieces[2]))
    except (binascii.Error, ValueError):
        raise TokenRefused("its signature is not base64url") from None
    if not key.verify(f"{pieces[0]}.{pieces[1]}".encode(), signature):
        raise TokenRefused(f"its signature is not by {issuer!r}'s key {key_id}")
    if claims.get("aud") != audience:
        raise TokenRefused(f"it is for {claims.get('aud')!r}, not for {audience!r}")
    moment = time.time() if now is None else now
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        raise TokenRefused("it has no numeric iat and exp")
    if expires - issued > TOKEN_SECONDS + SKEW_SECONDS:
        raise TokenRefused(f"it claims a life over {TOKEN_SECONDS:g} s")
    if moment > expires + SKEW_SECONDS or moment < issued - SKEW_SECONDS:
        raise TokenRefused("it has expired, or is not valid yet (check the clocks)")
    return Bearer(issuer, key_id, float(expires))


class TokenCache:
    """Mints tokens for one agent and reuses each until it nears expiry."""

    def __init__(self, key: PrivateKey, issuer: str) -> None:
        self.key = key
        self.issuer = issuer
        self._tokens: dict[str, tuple[float, str]] = {}

    def __call__(self, audience: str) -> str:
        now = time.time()
        held = self._tokens.get(audience)
        if held is not None and held[0] - now > TOKEN_SECONDS / 4:
            return held[1]
        token = mint(self.key, self.issuer, audience, now=now)
        self._tokens[audience] = (now + TOKEN_SECONDS, token)
        return token


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def _part(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(_padded(text)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise TokenRefused(f"its {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise TokenRefused(f"its {what} is not a JSON object")
    return value
