"""Bearer tokens (EdDSA JWTs by agent keys) and vault values sealed to the redeemer."""

from __future__ import annotations

import time

import pytest

from lamas.interop.tokens import TOKEN_SECONDS, TokenCache, TokenRefused, check, mint
from lamas.privacy.sealing import SealError, SealKey, recipient, seal
from lamas.security.identity import PrivateKey
from lamas.security.signing import Directory


@pytest.fixture
def alice() -> tuple[PrivateKey, Directory]:
    key = PrivateKey.generate()
    directory = Directory()
    directory.add_agent("alice", "alice-co", key)
    return key, directory


def test_a_token_proves_its_issuer_to_its_audience_only(
    alice: tuple[PrivateKey, Directory],
) -> None:
    key, directory = alice
    token = mint(key, "alice", "keeper")
    proved = check(token, directory, "keeper")
    assert proved.agent == "alice"
    assert proved.key_id == key.id
    with pytest.raises(TokenRefused, match="not for 'door'"):
        check(token, directory, "door")
    with pytest.raises(TokenRefused, match="not a registered key of agent 'mallory'"):
        check(mint(key, "mallory", "keeper"), directory, "keeper")
    with pytest.raises(TokenRefused, match="expired"):
        check(token, directory, "keeper", now=time.time() + TOKEN_SECONDS + 60)
    with pytest.raises(TokenRefused, match="not a JWT"):
        check("abc", directory, "keeper")
    with pytest.raises(TokenRefused, match="longer than"):
        check("a." * 2000, directory, "keeper")


def test_a_token_cache_reuses_a_fresh_token_and_renews_an_old_one(
    alice: tuple[PrivateKey, Directory],
) -> None:
    key, directory = alice
    cache = TokenCache(key, "alice")
    first = cache("keeper")
    assert cache("keeper") == first
    assert cache("door") != first
    cache._tokens["keeper"] = (time.time() + 5, first)  # about to expire
    assert cache("keeper") != first
    check(cache("keeper"), directory, "keeper")


def test_sealed_values_open_only_for_the_redemption_they_were_sealed_to() -> None:
    key = SealKey()
    values = {"passport_number": "X123", "name": "Ada"}
    sealed = seal(values, recipient(key.public), task_id="t1", agent="railgo")
    assert "X123" not in str(sealed)
    assert key.open(sealed, task_id="t1", agent="railgo") == values
    with pytest.raises(SealError, match="does not open"):
        key.open(sealed, task_id="t2", agent="railgo")
    with pytest.raises(SealError, match="does not open"):
        key.open(sealed, task_id="t1", agent="mallory")
    with pytest.raises(SealError, match="does not open"):
        SealKey().open(sealed, task_id="t1", agent="railgo")
    with pytest.raises(SealError, match="needs 'seal_to'"):
        recipient(None)
    with pytest.raises(SealError, match="not a base64 X25519"):
        recipient("bm90IGEga2V5")
    assert "X123" not in repr(key)
