"""Security (paper §2.5): who wrote what, who may ask what, and what may be believed.

- identities and key rings (`identity`), signed envelopes and cards with replay and
  tamper checks (`signing`), rate limits and query budgets (`ratelimit`);
- prompt-injection defences: spotlighting (`spotlight`), the layered detector
  (`detector`, with its `rules` and `perplexity` layers over `normalise`d text).

Submodules that pull in heavier dependencies (cryptography, a GGUF model) load on use.
"""

from lamas.security.identity import KeyFileError, KeyRing, PrivateKey, PublicKey, key_id

__all__ = ["KeyFileError", "KeyRing", "PrivateKey", "PublicKey", "key_id"]
