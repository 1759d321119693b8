"""Additive secret sharing: correct sums, and any n-1 shares are uniform (reveal nothing)."""

from __future__ import annotations

import itertools
from collections import Counter
from decimal import Decimal

import pytest

from lamas.errors import InputError
from lamas.privacy.sharing import PRIME, Field, joint_sum


def test_shares_reconstruct_the_secret() -> None:
    field = Field()
    for secret in (0, 1, 12345, PRIME - 1):
        for parties in (2, 3, 10):
            shares = field.share(secret, parties)
            assert len(shares) == parties
            assert field.reconstruct(shares) == secret


def test_joint_sum_and_mean_over_3_and_10_parties() -> None:
    three = joint_sum({"a": "10.50", "b": "-2.25", "c": 7})
    assert three.total == Decimal("15.25")
    assert three.mean == Decimal("15.25") / 3
    inputs = {f"p{i}": Decimal(i) / 4 for i in range(10)}
    ten = joint_sum(inputs)
    assert ten.total == sum(inputs.values())
    assert len(ten.partial_sums) == 10
    with pytest.raises(InputError):
        joint_sum({"alone": 1})
    with pytest.raises(InputError, match="decimal places"):
        joint_sum({"a": "0.001", "b": 1})


def chi_square(counts: Counter[tuple[int, ...]], cells: int, draws: int) -> float:
    expected = draws / cells
    return sum((counts.get(cell, 0) - expected) ** 2 / expected for cell in range(cells))


@pytest.mark.parametrize("secret", [0, 5, 12])
def test_any_n_minus_1_shares_are_uniform_whatever_the_secret(secret: int) -> None:
    """Over a small field (p = 13), 3 parties: every pair of shares, whichever two parties
    hold them, is uniform on the 169 pairs (chi-square), for every secret alike."""
    field = Field(13)
    draws = 13 * 13 * 60
    samples = [field.share(secret, 3) for _ in range(draws)]
    for held in itertools.combinations(range(3), 2):
        counts: Counter[int] = Counter(s[held[0]] * 13 + s[held[1]] for s in samples)
        # 168 degrees of freedom: the 99.9th percentile of chi-square is about 232.
        assert chi_square(counts, 169, draws) < 232, (secret, held)


def test_partial_sums_are_uniform_too() -> None:
    field = Field(11)
    draws = 11 * 400
    firsts = Counter(
        joint_sum({"a": 3, "b": 4}, places=0, field=field).partial_sums[0] for _ in range(draws)
    )
    expected = draws / 11
    # 10 degrees of freedom: 99.9th percentile about 29.6.
    assert sum((firsts.get(v, 0) - expected) ** 2 / expected for v in range(11)) < 29.6
