"""Shared test set-up: an isolated LAMAS_HOME per test session, and the model marker's skip."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Shared helpers live in tests/support (`from support.casestudy import ...`), and the
# PostgreSQL server fixture is available to every test.
sys.path.insert(0, str(Path(__file__).resolve().parent))
pytest_plugins = ["support.postgres"]

# Never spin OpenMP threads in tests (2 shared cores); must precede any llama.cpp load.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def lamas_home(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> object:
    """A fresh LAMAS_HOME for tests that write caches or databases."""
    monkeypatch.setenv("LAMAS_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(autouse=True)
def private_vaults(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Networks with a user vault (the travel example) keep it, and its key, out of the
    user's home: a vault folder and key file per test."""
    folder = tmp_path_factory.mktemp("vault")
    monkeypatch.setenv("LAMAS_VAULT_DIR", str(folder))
    monkeypatch.setenv("LAMAS_VAULT_KEY_FILE", str(folder / "vault.key"))
    monkeypatch.delenv("LAMAS_VAULT_KEY", raising=False)
