"""Security (paper §2.5): who wrote what, who may ask what, and what may be believed.

- identities and key rings (`identity`), signed envelopes and cards with replay and
  tamper checks (`signing`), rate limits and query budgets (`ratelimit`);
- prompt-injection defences: spotlighting (`spotlight`), the layered detector
  (`detector`, with its `rules` and `perplexity` layers over `normalise`d text).

Submodules that pull in heavier dependencies (cryptography, a GGUF model) load on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamas._lazy import exports

if TYPE_CHECKING:
    from lamas.security.identity import KeyFileError, KeyRing, PrivateKey, PublicKey, key_id

__all__ = ["KeyFileError", "KeyRing", "PrivateKey", "PublicKey", "key_id"]

# Where each public name lives; loaded on first access (lamas._lazy).
_HOME: dict[str, str] = {
    "KeyFileError": "lamas.security.identity",
    "KeyRing": "lamas.security.identity",
    "PrivateKey": "lamas.security.identity",
    "PublicKey": "lamas.security.identity",
    "key_id": "lamas.security.identity",
}

__getattr__, __dir__ = exports(__name__, _HOME, globals())
