"""Paillier sums: exact totals, and the platform never holds the private key."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest

from lamas.errors import InputError
from lamas.privacy.paillier import Aggregator, EncryptedFigure, KeyHolder, Reporter


@pytest.fixture(scope="module")
def holder() -> KeyHolder:
    return KeyHolder(bits=1024)  # 2048 in use and in the benchmark; 1024 keeps tests fast


def test_the_encrypted_sum_is_exact(holder: KeyHolder) -> None:
    figures = {"railgo": "12.34", "swiftrail": "0.01", "staywell": "1000000.99", "refund": "-3.50"}
    reports = [Reporter(holder.public_key).encrypt(k, v) for k, v in figures.items()]
    wire = [EncryptedFigure.from_json(r.as_json()) for r in reports]
    total = Aggregator(holder.public_key).add(wire)
    assert holder.decrypt(total) == sum(Decimal(v) for v in figures.values())
    # Each report decrypts to its own figure; the ciphertexts hide equal figures.
    assert holder.decrypt(reports[0]) == Decimal("12.34")
    again = Reporter(holder.public_key).encrypt("railgo", "12.34")
    assert again.ciphertext != reports[0].ciphertext


def test_the_platform_holds_no_private_key(holder: KeyHolder) -> None:
    from phe.paillier import PaillierPrivateKey

    platform = Aggregator(holder.public_key)
    state = pickle.dumps(platform)
    assert b"PaillierPrivateKey" not in state
    assert not any(isinstance(v, PaillierPrivateKey) for v in vars(platform).values())
    assert not hasattr(platform, "decrypt")
    assert any(isinstance(v, PaillierPrivateKey) for v in vars(holder).values())


def test_bad_figures_are_refused(holder: KeyHolder) -> None:
    with pytest.raises(InputError, match="decimal places"):
        Reporter(holder.public_key).encrypt("x", "1.234")
    with pytest.raises(InputError, match="nothing to add"):
        Aggregator(holder.public_key).add([])
    with pytest.raises(InputError, match="not an encrypted figure"):
        EncryptedFigure.from_json({"label": "x", "ciphertext": "abc", "places": 2})
