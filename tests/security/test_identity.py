"""Ed25519 identities: signing, stable ids, key files (mode, refusals, clear errors), key rings."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lamas.errors import InputError
from lamas.security import KeyFileError, KeyRing, PrivateKey, PublicKey, key_id


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return PrivateKey.generate()


def test_a_signature_verifies_with_its_key_only(key: PrivateKey) -> None:
    other = PrivateKey.generate()
    signature = key.sign(b"payload")
    assert len(signature) == 64
    assert key.public.verify(b"payload", signature)
    assert not key.public.verify(b"payload!", signature)
    assert not other.public.verify(b"payload", signature)
    assert not key.public.verify(b"payload", b"\x00" * 64)


def test_the_id_is_derived_from_the_public_key(key: PrivateKey) -> None:
    assert key.id == key.public.id == key_id(key.public.raw)
    assert len(key.id) == 32
    assert int(key.id, 16) >= 0
    assert PublicKey.from_pem(key.public.to_pem()).id == key.id
    assert PublicKey.from_raw(key.public.raw) == key.public
    assert PrivateKey.generate().id != key.id


def test_a_private_key_round_trips_through_a_0600_file(key: PrivateKey, tmp_path: Path) -> None:
    old = os.umask(0)  # even with a permissive umask the file is the owner's only
    try:
        path = key.save(tmp_path / "keys" / "writer.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = PrivateKey.load(path)
    assert loaded.id == key.id
    assert key.public.verify(b"x", loaded.sign(b"x"))
    assert "PRIVATE" not in repr(loaded)
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind


def test_a_key_file_is_never_overwritten_unless_asked(key: PrivateKey, tmp_path: Path) -> None:
    path = key.save(tmp_path / "writer.pem")
    other = PrivateKey.generate()
    with pytest.raises(KeyFileError, match="exists; refusing to overwrite"):
        other.save(path)
    assert PrivateKey.load(path).id == key.id
    other.save(path, overwrite=True)
    assert PrivateKey.load(path).id == other.id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_public_key_round_trips_through_a_file(key: PrivateKey, tmp_path: Path) -> None:
    path = key.public.save(tmp_path / "writer.pub")
    assert PublicKey.load(path) == key.public
    assert hash(PublicKey.load(path)) == hash(key.public)


def _pem(what: str, key: PrivateKey) -> bytes:
    """Key file contents of every wrong sort."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = serialization.PrivateFormat.PKCS8
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    ed = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    return {
        "empty": b"",
        "garbage": b"not a key at all",
        "corrupt": b"-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n",
        "public": key.public.to_pem(),
        "private": ed.private_bytes(pem, pkcs8, serialization.NoEncryption()),
        "ec-private": ec_key.private_bytes(pem, pkcs8, serialization.NoEncryption()),
        "ec-public": ec_key.public_key().public_bytes(pem, spki),
        "encrypted": ed.private_bytes(pem, pkcs8, serialization.BestAvailableEncryption(b"pw")),
    }[what]


WRONG_FILES = [
    ("empty", PrivateKey.load, "not a PEM private key"),
    ("corrupt", PrivateKey.load, "not a PEM private key"),
    ("garbage", PublicKey.load, "not a PEM public key"),
    ("public", PrivateKey.load, r"not a PEM private key \(it holds a public key\)"),
    ("private", PublicKey.load, r"not a PEM public key \(it holds a private key\)"),
    (
        "ec-private",
        PrivateKey.load,
        r"an elliptic-curve key \(secp256r1\), but lamas signs with Ed25519",
    ),
    (
        "ec-public",
        PublicKey.load,
        r"an elliptic-curve key \(secp256r1\), but lamas signs with Ed25519",
    ),
    ("encrypted", PrivateKey.load, "is encrypted"),
]


@pytest.mark.parametrize(
    ("what", "loader", "message"), WRONG_FILES, ids=[w[0] for w in WRONG_FILES]
)
def test_a_wrong_or_corrupt_key_file_is_a_clear_error(
    key: PrivateKey,
    tmp_path: Path,
    what: str,
    loader: Callable[[Path], object],
    message: str,
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(_pem(what, key))
    with pytest.raises(KeyFileError, match=message) as caught:
        loader(path)
    assert isinstance(caught.value, InputError)
    assert str(path) in str(caught.value)


def test_a_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"no key file at .*lamas ledger keygen"):
        PrivateKey.load(tmp_path / "absent.pem")


def test_a_raw_public_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(KeyFileError, match="expected 32 bytes, got 31"):
        PublicKey.from_raw(b"\x01" * 31)


def test_a_keyring_verifies_by_signer_id(key: PrivateKey) -> None:
    other = PrivateKey.generate()
    ring = KeyRing([key.public])
    assert ring.knows(key.id)
    assert key.id in ring
    assert not ring.knows(other.id)
    assert ring.get(key.id) == key.public
    assert ring.get(other.id) is None
    assert ring.verify(key.id, b"m", key.sign(b"m"))
    assert not ring.verify(key.id, b"m", other.sign(b"m"))
    assert not ring.verify(other.id, b"m", other.sign(b"m"))  # unknown signer
    assert ring.add(other) == other.id
    assert ring.verify(other.id, b"m", other.sign(b"m"))
    assert len(ring) == 2
    assert {k.id for k in ring} == {key.id, other.id}


def test_a_keyring_saves_to_and_loads_from_a_directory(key: PrivateKey, tmp_path: Path) -> None:
    other = PrivateKey.generate()
    written = KeyRing([key.public, other.public]).save(tmp_path / "trusted")
    assert sorted(p.name for p in written) == sorted(f"{k.id}.pub" for k in (key, other))
    assert KeyRing([key.public]).save(tmp_path / "trusted") == []  # existing files are kept
    loaded = KeyRing.load(tmp_path / "trusted")
    assert {k.id for k in loaded} == {key.id, other.id}
    single = KeyRing.load(tmp_path / "trusted" / f"{key.id}.pub")
    assert [k.id for k in single] == [key.id]


def test_a_keyring_directory_without_keys_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"no \.pub public key files"):
        KeyRing.load(tmp_path)
