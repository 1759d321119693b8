"""Sums of encrypted figures (paper §3.1: homomorphic encryption), with Paillier (`phe`).

Three roles, kept in three objects so the code itself shows who holds what:

- `KeyHolder` (an auditor, or the entities jointly trusting one) makes the key pair and
  is the only one that can decrypt; it publishes the public key.
- `Reporter` (an agent or entity) encrypts its own figure under that public key and
  sends the ciphertext as plain JSON (`EncryptedFigure`).
- `Aggregator` (the platform) adds ciphertexts without decrypting them: it is given the
  public key only and has nothing to decrypt with.

Figures are decimals (money, ratings): each is encoded exactly as an integer count of
`1 / 10**places`, so the decrypted total is exact, not a float near it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lamas.errors import InputError

DEFAULT_BITS = 2048
DEFAULT_PLACES = 2


@dataclass(frozen=True, slots=True)
class EncryptedFigure:
    """One encrypted figure on the wire: the ciphertext as a decimal string."""

    label: str
    ciphertext: str
    places: int = DEFAULT_PLACES

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "ciphertext": self.ciphertext, "places": self.places}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EncryptedFigure:
        try:
            return cls(str(data["label"]), str(int(data["ciphertext"])), int(data["places"]))
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"not an encrypted figure: {error!r}") from None


class KeyHolder:
    """Makes the key pair and decrypts totals; the only holder of the private key."""

    def __init__(self, bits: int = DEFAULT_BITS) -> None:
        from lamas._extras import need

        need("phe", "privacy", "Paillier sums")
        from phe import paillier

        self.public_key, self._private_key = paillier.generate_paillier_keypair(n_length=bits)

    def decrypt(self, total: EncryptedFigure) -> Decimal:
        value = self._private_key.raw_decrypt(int(total.ciphertext))
        # Negative figures wrap around n: the upper third of the range is negative.
        n = self.public_key.n
        if value > n // 3 * 2:
            value -= n
        return Decimal(value).scaleb(-total.places)


class Reporter:
    """Encrypts one party's figures under the key holder's public key."""

    def __init__(self, public_key: Any, *, places: int = DEFAULT_PLACES) -> None:
        self.public_key = public_key
        self.places = places

    def encrypt(self, label: str, figure: Decimal | int | str) -> EncryptedFigure:
        scaled = Decimal(str(figure)).scaleb(self.places)
        if scaled != scaled.to_integral_value():
            raise InputError(
                f"{label}: {figure} has more than {self.places} decimal places; round it first"
            )
        n = self.public_key.n
        value = int(scaled) % n  # a negative figure is its residue mod n
        ciphertext = self.public_key.raw_encrypt(value)
        return EncryptedFigure(label, str(ciphertext), self.places)


class Aggregator:
    """Adds encrypted figures without decrypting them: it holds the public key only."""

    def __init__(self, public_key: Any) -> None:
        self.public_key = public_key

    def add(self, figures: Iterable[EncryptedFigure], *, label: str = "total") -> EncryptedFigure:
        items = list(figures)
        if not items:
            raise InputError("nothing to add: no encrypted figures")
        places = {f.places for f in items}
        if len(places) > 1:
            raise InputError(f"figures with different decimal places cannot be added: {places}")
        n_square = self.public_key.nsquare
        product = 1
        for figure in items:
            # Paillier: multiplying ciphertexts adds the plaintexts (mod n).
            product = product * int(figure.ciphertext) % n_square
        return EncryptedFigure(label, str(product), places.pop())
