"""Additive secret sharing over a prime field (paper §3.1: secure multi-party computation).

A secret x is split into n shares: n-1 uniformly random field elements and one that
makes them all sum to x (mod p). Any n-1 shares are uniformly distributed whatever x
is, so they reveal nothing; all n give x back. Shares add: the sum of each party's
shares is a share of the sum. So n parties compute a joint sum or mean of private
numbers: each splits its input and sends share j to party j, each party adds the
shares it got and publishes only that partial sum, and the partial sums add up to the
total. No party sees another's input.

Numbers are fixed-point: decimals are scaled by 10**places; negatives are their
residue mod p (p is the Mersenne prime 2^127 - 1, far above any sum of figures).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from lamas.errors import InputError

PRIME = 2**127 - 1
DEFAULT_PLACES = 2


@dataclass(frozen=True, slots=True)
class Field:
    """The integers mod a prime `p`."""

    p: int = PRIME

    def share(self, secret: int, parties: int) -> list[int]:
        """`parties` shares of `secret`, the first n-1 uniform in [0, p)."""
        if parties < 2:
            raise InputError(f"secret sharing needs at least 2 parties, got {parties}")
        shares = [secrets.randbelow(self.p) for _ in range(parties - 1)]
        shares.append((secret - sum(shares)) % self.p)
        return shares

    def reconstruct(self, shares: Sequence[int]) -> int:
        return sum(shares) % self.p

    def signed(self, value: int) -> int:
        """A field element read as a signed integer (the upper half is negative)."""
        value %= self.p
        return value - self.p if value > self.p // 2 else value


def encode(value: Decimal | int | str, places: int, field: Field) -> int:
    scaled = Decimal(str(value)).scaleb(places)
    if scaled != scaled.to_integral_value():
        raise InputError(f"{value} has more than {places} decimal places; round it first")
    if abs(scaled) >= field.p // 2:
        raise InputError(f"{value} is too large for the field")
    return int(scaled) % field.p


@dataclass(frozen=True, slots=True)
class JointResult:
    total: Decimal
    mean: Decimal
    parties: int
    partial_sums: tuple[int, ...]  # what each party published: uniform, input-free


def joint_sum(
    inputs: Mapping[str, Decimal | int | str],
    *,
    places: int = DEFAULT_PLACES,
    field: Field | None = None,
) -> JointResult:
    """The sum and mean of the parties' private `inputs`, computed from shares.

    Each party's dealing is simulated here in one process, but the data flow is the
    protocol's: party i only ever holds share i of every input, and publishes the sum
    of those.
    """
    field = field or Field()
    names = list(inputs)
    n = len(names)
    if n < 2:
        raise InputError("a joint sum needs at least 2 parties")
    # received[j] = the shares party j got, one from each party (including itself)
    received: list[list[int]] = [[] for _ in range(n)]
    for name in names:
        for j, piece in enumerate(field.share(encode(inputs[name], places, field), n)):
            received[j].append(piece)
    partials = tuple(sum(pieces) % field.p for pieces in received)
    total = Decimal(field.signed(field.reconstruct(partials))).scaleb(-places)
    return JointResult(total, total / n, n, partials)
