"""The example networks' personal agents open a vault and write to the ledger: each test
gets its own vault folder, vault key and database, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAMAS_VAULT_DIR", str(tmp_path / "vaults"))
    monkeypatch.setenv("LAMAS_VAULT_KEY_FILE", str(tmp_path / "vault.key"))
    monkeypatch.delenv("LAMAS_VAULT_KEY", raising=False)
    monkeypatch.setenv("LAMAS_DATABASE_URL", f"sqlite:///{tmp_path / 'lamas.db'}")
    return tmp_path
