"""The vault: encrypted at rest, wrong keys refused, and access only under a valid grant."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamas.errors import AccessRefused, InputError, VaultKeyError
from lamas.privacy import AccessRecord, Vault, load_key, new_key
from lamas.privacy.keys import KEY_ENV, KEY_FILE_ENV
from lamas.protocol.messages import SealedRef

PROFILE = {
    "name": "Ada Lovelace",
    "passport_number": "X1234567Z",
    "payment_card": "4970 1012 3456 7893",
    "preferences": {"seat": "aisle"},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_values_are_encrypted_at_rest_and_read_back(tmp_path: Path) -> None:
    key = new_key()
    path = tmp_path / "v.vault"
    vault = Vault.create(PROFILE, key, path=path)
    raw = path.read_text()
    for value in ("Ada", "Lovelace", "X1234567Z", "4970", "aisle"):
        assert value not in raw
    again = Vault.open(path, key.text)
    assert again.id == vault.id
    assert again.fields == tuple(PROFILE)
    assert again.reveal("preferences") == {"seat": "aisle"}


def test_a_wrong_key_is_a_clear_error_not_garbage(tmp_path: Path) -> None:
    path = tmp_path / "v.vault"
    Vault.create(PROFILE, new_key(), path=path)
    with pytest.raises(VaultKeyError, match="not the one it was sealed with"):
        Vault.open(path, new_key())
    with pytest.raises(VaultKeyError, match="not 32 bytes"):
        Vault.open(path, "not-a-key")


def test_a_field_moved_to_another_field_does_not_open(tmp_path: Path) -> None:
    import json

    key = new_key()
    path = tmp_path / "v.vault"
    Vault.create(PROFILE, key, path=path)
    stored = json.loads(path.read_text())
    stored["fields"]["name"] = stored["fields"]["passport_number"]
    path.write_text(json.dumps(stored))
    vault = Vault.open(path, key)
    with pytest.raises(VaultKeyError, match="altered"):
        vault.reveal("name")


def test_key_from_env_file_or_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "k"))
    with pytest.raises(VaultKeyError, match="no vault key"):
        load_key()
    made = load_key(create=True)
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert load_key().secret == made.secret
    monkeypatch.setenv(KEY_ENV, new_key().text)
    assert load_key().secret != made.secret
    assert "secret" not in repr(made)
    assert made.text not in repr(made)


def grant_setup(**options: object) -> tuple[Vault, list[AccessRecord], Clock]:
    records: list[AccessRecord] = []
    clock = Clock()
    vault = Vault.create(PROFILE, new_key(), audit=records.append, clock=clock, **options)  # type: ignore[arg-type]
    return vault, records, clock


def test_a_grant_yields_refs_without_values_and_redeems_exactly_the_fields() -> None:
    vault, records, _ = grant_setup()
    grant, refs = vault.grant(
        "hotel", ["name", "payment_card"], task_id="t1", purpose="book", by="orchestrator"
    )
    assert [r.field for r in refs] == ["name", "payment_card"]
    assert all(r.vault_id == vault.id and len(r.token) >= 24 for r in refs)
    assert all(PROFILE["name"] not in r.model_dump_json() for r in refs)
    values = vault.redeem(refs, agent="hotel", task_id="t1")
    assert values == {"name": PROFILE["name"], "payment_card": PROFILE["payment_card"]}
    assert [(r.kind, r.agent, r.fields, r.grant_id) for r in records] == [
        ("granted", "hotel", ("name", "payment_card"), grant.id),
        ("read", "hotel", ("name", "payment_card"), grant.id),
    ]
    assert records[1].purpose == "book"
    assert records[1].by == "orchestrator"
    # A ref opens once.
    with pytest.raises(AccessRefused, match="redeemed already"):
        vault.redeem(refs[:1], agent="hotel", task_id="t1")


@pytest.mark.parametrize(
    ("agent", "task", "advance", "reason"),
    [
        ("rail", "t1", 0.0, "grant is for 'hotel'"),
        ("hotel", "t2", 0.0, "for task t1, not t2"),
        ("hotel", "t1", 601.0, "expired"),
    ],
)
def test_refused_for_another_agent_another_task_or_after_expiry(
    agent: str, task: str, advance: float, reason: str
) -> None:
    vault, records, clock = grant_setup()
    _, refs = vault.grant("hotel", ["name"], task_id="t1", purpose="book")
    clock.now += advance
    with pytest.raises(AccessRefused, match=reason):
        vault.redeem(refs, agent=agent, task_id=task)
    assert records[-1].kind == "refused"
    assert records[-1].agent == agent
    assert reason in records[-1].reason
    # The refusal spent nothing: the rightful agent can still redeem in time.
    clock.now = 1000.0
    assert vault.redeem(refs, agent="hotel", task_id="t1") == {"name": PROFILE["name"]}


def test_an_unknown_or_forged_ref_is_refused_and_recorded() -> None:
    vault, records, _ = grant_setup()
    forged = SealedRef(field="name", vault_id=vault.id, token="x" * 32)
    with pytest.raises(AccessRefused, match="no grant issued"):
        vault.redeem([forged], agent="hotel", task_id="t1")
    assert records[-1].kind == "refused"
    assert records[-1].fields == ("name",)
    _, refs = vault.grant("hotel", ["name"], task_id="t1", purpose="book")
    swapped = refs[0].model_copy(update={"field": "passport_number"})
    with pytest.raises(AccessRefused, match="granted for 'name'"):
        vault.redeem([swapped], agent="hotel", task_id="t1")
    other_vault = refs[0].model_copy(update={"vault_id": "vault-elsewhere"})
    with pytest.raises(AccessRefused, match="vault-elsewhere"):
        vault.redeem([other_vault], agent="hotel", task_id="t1")


def test_consent_and_self_grants() -> None:
    vault, records, _ = grant_setup(consent={"hotel": ["name"]})
    with pytest.raises(AccessRefused, match=r"not consented.*payment_card"):
        vault.grant("hotel", ["name", "payment_card"], task_id="t1", purpose="book")
    with pytest.raises(AccessRefused, match="itself"):
        vault.grant("orchestrator", ["name"], task_id="t1", purpose="x", by="orchestrator")
    assert [r.kind for r in records] == ["refused", "refused"]
    with pytest.raises(InputError, match="cannot grant salary"):
        vault.grant("hotel", ["salary"], task_id="t1", purpose="x")
    with pytest.raises(InputError, match="no sealed refs"):
        vault.redeem([], agent="hotel", task_id="t1")
