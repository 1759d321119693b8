"""Shared test set-up: an isolated LAMAS_HOME per test session, and the model marker's skip."""

from __future__ import annotations

import os

import pytest

# Never spin OpenMP threads in tests (2 shared cores); must precede any llama.cpp load.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def lamas_home(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> object:
    """A fresh LAMAS_HOME for tests that write caches or databases."""
    monkeypatch.setenv("LAMAS_HOME", str(tmp_path))
    return tmp_path
