"""Ed25519 identities: a writer's private key, its public key and id, and a ring of known keys.

A key's id is derived from the key itself (sha256 of its 32 raw public bytes, the first
32 hex digits), so an id can never be re-pointed at another key: whoever holds a public
key can check that it is the one an id names.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lamas.errors import InputError

ID_HEX_DIGITS = 32  # 128 bits: ids stay short in every ledger row and still cannot collide
PUBLIC_SUFFIX = ".pub"


class KeyFileError(InputError):
    """A key file is missing, unreadable, or not the kind of key expected."""


def key_id(public_raw: bytes) -> str:
    """The stable id of a public key: sha256 of its raw 32 bytes, hex, shortened."""
    return hashlib.sha256(public_raw).hexdigest()[:ID_HEX_DIGITS]


class PublicKey:
    """An Ed25519 public key: checks signatures."""

    __slots__ = ("_key", "id", "raw")

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.id = key_id(self.raw)

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        try:
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError:
            raise KeyFileError(
                f"not an Ed25519 public key: expected 32 bytes, got {len(raw)}"
            ) from None

    @classmethod
    def from_pem(cls, pem: bytes, *, source: str = "PEM data") -> PublicKey:
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm):
            hint = " (it holds a private key)" if b"PRIVATE KEY" in pem else ""
            raise KeyFileError(f"{source} is not a PEM public key{hint}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(
                f"{source} holds {_describe(key)}, but lamas signs with Ed25519 keys; "
                "make one with `lamas ledger keygen`"
            )
        return cls(key)

    @classmethod
    def load(cls, path: str | Path) -> PublicKey:
        return cls.from_pem(_read(path), source=str(path))

    def to_pem(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return _write(Path(path), self.to_pem(), mode=0o644, overwrite=overwrite)

    def verify(self, data: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"PublicKey(id={self.id!r})"


class PrivateKey:
    """An Ed25519 private key: signs. Kept in a PEM file only its owner can read."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key())

    @property
    def id(self) -> str:
        return self.public.id

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str | Path) -> PrivateKey:
        pem = _read(path)
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except TypeError:
            raise KeyFileError(f"{path} is encrypted; lamas reads unencrypted key files") from None
        except (ValueError, UnsupportedAlgorithm):
            hint = " (it holds a public key)" if b"PUBLIC KEY" in pem else ""
            raise KeyFileError(f"{path} is not a PEM private key{hint}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(
                f"{path} holds {_describe(key)}, but lamas signs with Ed25519 keys; "
                "make one with `lamas ledger keygen`"
            )
        return cls(key)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the key as PKCS#8 PEM, readable by its owner only (mode 0600)."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return _write(Path(path), pem, mode=0o600, overwrite=overwrite)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def __repr__(self) -> str:  # never the secret
        return f"PrivateKey(id={self.id!r})"


class KeyRing:
    """The public keys a reader trusts, by id (a `SignatureVerifier` for the ledger)."""

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        self._keys: dict[str, PublicKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: PublicKey | PrivateKey) -> str:
        public = key.public if isinstance(key, PrivateKey) else key
        self._keys[public.id] = public
        return public.id

    def get(self, signer: str) -> PublicKey | None:
        return self._keys.get(signer)

    def knows(self, signer: str) -> bool:
        return signer in self._keys

    def verify(self, signer: str, message: bytes, signature: bytes) -> bool:
        key = self._keys.get(signer)
        return key is not None and key.verify(message, signature)

    @classmethod
    def load(cls, *paths: str | Path) -> KeyRing:
        """Public keys from PEM files, or from every `*.pub` file in a directory."""
        ring = cls()
        for path in map(Path, paths):
            if path.is_dir():
                found = sorted(path.glob(f"*{PUBLIC_SUFFIX}"))
                if not found:
                    raise KeyFileError(f"no {PUBLIC_SUFFIX} public key files in {path}")
                for file in found:
                    ring.add(PublicKey.load(file))
            else:
                ring.add(PublicKey.load(path))
        return ring

    def save(self, directory: str | Path) -> list[Path]:
        """Write each key to `<directory>/<id>.pub` (existing files are kept)."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for key in self:
            path = folder / f"{key.id}{PUBLIC_SUFFIX}"
            if not path.exists():
                written.append(key.save(path))
        return written

    def __contains__(self, signer: object) -> bool:
        return signer in self._keys

    def __iter__(self) -> Iterator[PublicKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing({sorted(self._keys)})"


def _describe(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "an RSA key"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"an elliptic-curve key ({key.curve.name})"
    return f"a {type(key).__name__}"


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}; make one with `lamas ledger keygen`") from None
    except OSError as error:
        raise KeyFileError(f"cannot read key file {path}: {error.strerror}") from None


def _write(path: Path, data: bytes, *, mode: int, overwrite: bool) -> Path:
    # The file is created with its final mode, never briefly readable by others. A new key
    # is created exclusively (two keygens cannot both win); a replaced one is written
    # beside its destination and moved into place whole.
    target = path.with_name(f".{path.name}.{os.getpid()}.tmp") if overwrite else path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(
            f"{path} exists; refusing to overwrite a key (remove it first)"
        ) from None
    except OSError as error:
        raise KeyFileError(f"cannot write key file {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)  # os.open's mode is masked by the umask
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(target, path)
    except OSError as error:
        target.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write key file {path}: {error.strerror}") from None
    return path
