"""Privacy (paper §3.1): data domains, and computing on private numbers.

- `vault`, `service`, `guard`: the user's encrypted vault, grants and sealed refs, and
  the guard that keeps vault values out of the orchestrator (decentralized star).
- `dp`: differentially private statistics with a tracked, finite budget (OpenDP).
- `paillier`: sums of encrypted figures, decrypted only by the key holder (phe).
- `sharing`: additive secret sharing over a prime field (joint sums and means).
"""

from lamas.privacy.fingerprints import Fingerprints
from lamas.privacy.guard import PrivacyGuard
from lamas.privacy.keys import VaultKey, load_key, new_key
from lamas.privacy.service import (
    FINGERPRINTS_SKILL,
    GRANT_SKILL,
    REDEEM_SKILL,
    redeem,
    request_grant,
    vault_handler,
)
from lamas.privacy.vault import AccessRecord, Grant, Vault

__all__ = [
    "FINGERPRINTS_SKILL",
    "GRANT_SKILL",
    "REDEEM_SKILL",
    "AccessRecord",
    "Fingerprints",
    "Grant",
    "PrivacyGuard",
    "Vault",
    "VaultKey",
    "load_key",
    "new_key",
    "redeem",
    "request_grant",
    "vault_handler",
]
