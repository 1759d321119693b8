from __future__ import annotations

import os

import pytest

from lamas.agent.embeddings import MiniLMEmbedder


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return MiniLMEmbedder()
