"""Security: who wrote what. Ed25519 identities that sign ledger entries (later: messages)."""

from lamas.security.identity import KeyFileError, KeyRing, PrivateKey, PublicKey, key_id

__all__ = ["KeyFileError", "KeyRing", "PrivateKey", "PublicKey", "key_id"]
