"""The vault's key: 32 random bytes (AES-256-GCM), written as URL-safe base64.

Where it comes from, first found wins: the key given in code, `$LAMAS_VAULT_KEY`, the
file named by `$LAMAS_VAULT_KEY_FILE`, else `LAMAS_HOME/keys/vault.key` (made on first
use when `create` is asked for, readable by its owner only). A malformed key is a
`VaultKeyError` that says where the key came from; a wrong one is caught when the vault
is opened (see `Vault.open`).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from lamas.errors import VaultKeyError

KEY_ENV = "LAMAS_VAULT_KEY"
KEY_FILE_ENV = "LAMAS_VAULT_KEY_FILE"
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class VaultKey:
    """A vault key and where it came from (for error messages; never the key itself)."""

    secret: bytes
    source: str

    def __repr__(self) -> str:  # a key must never reach a log through repr()
        return f"VaultKey(source={self.source!r})"

    @property
    def text(self) -> str:
        return base64.urlsafe_b64encode(self.secret).decode()


def new_key() -> VaultKey:
    return VaultKey(os.urandom(KEY_BYTES), "generated")


def parse_key(text: str, source: str) -> VaultKey:
    """A key from its base64 text; anything else is a `VaultKeyError` naming `source`."""
    try:
        secret = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        secret = b""
    if len(secret) != KEY_BYTES:
        raise VaultKeyError(
            f"the vault key from {source} is not {KEY_BYTES} bytes of URL-safe base64; "
            "make one with `lamas privacy keygen`"
        )
    return VaultKey(secret, source)


def default_key_file() -> Path:
    from lamas.config import lamas_home

    return lamas_home() / "keys" / "vault.key"


def load_key(key: str | VaultKey | None = None, *, create: bool = False) -> VaultKey:
    """The vault key (see the module docstring for where it is looked for)."""
    if isinstance(key, VaultKey):
        return key
    if key is not None:
        return parse_key(key, "the key given")
    if os.environ.get(KEY_ENV):
        return parse_key(os.environ[KEY_ENV], f"${KEY_ENV}")
    path = Path(os.environ.get(KEY_FILE_ENV) or default_key_file())
    if path.is_file():
        try:
            return parse_key(path.read_text(encoding="ascii"), str(path))
        except (OSError, UnicodeDecodeError) as error:
            raise VaultKeyError(f"cannot read the vault key file {path}: {error}") from None
    if not create:
        raise VaultKeyError(
            f"no vault key: set ${KEY_ENV}, or ${KEY_FILE_ENV} to a key file, or create "
            f"{path} with `lamas privacy keygen`"
        )
    made = new_key()
    save_key(made, path)
    return VaultKey(made.secret, str(path))


def save_key(key: VaultKey, path: Path) -> None:
    """Write `key` to `path`, readable by its owner only; an existing file is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise VaultKeyError(f"{path} exists; a vault key file is never overwritten") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key.text + "\n")
