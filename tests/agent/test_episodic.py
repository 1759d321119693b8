"""Episodic memory: episodes stored with embeddings, searched by similarity, per agent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from lamas.agent.embeddings import HashingEmbedder, MiniLMEmbedder
from lamas.agent.episodic import Episode, EpisodicMemory
from lamas.errors import ConfigError
from lamas.store import create_engine

EPISODES = [
    "the user booked a train from Paris to Lyon for Tuesday morning",
    "the hotel near the station had no rooms left",
    "the user likes jazz and quiet restaurants",
    "a refund for the cancelled flight was paid",
]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return "sqlite:///" + str(tmp_path / "m.db")


@pytest.fixture
def engine(db: str) -> Iterator[Engine]:
    created = create_engine(db)
    yield created
    created.dispose()


def test_hashing_embedder_rows_are_unit_length_and_deterministic() -> None:
    embedder = HashingEmbedder(64)
    vectors = embedder.embed(["hello world", "hello world", "", "something else"])
    assert vectors.shape == (4, 64)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[[0, 1, 3]], axis=1), 1.0, atol=1e-6)
    assert np.array_equal(vectors[0], vectors[1])
    assert not vectors[2].any()  # no words: the zero vector, not NaN
    assert embedder.name == "hashing-64"
    assert embedder.dimension == 64


def test_add_returns_ids_and_all_lists_in_order(engine: Engine) -> None:
    memory = EpisodicMemory(engine, HashingEmbedder(), "alice")
    ids = [memory.add(text, {"n": n}) for n, text in enumerate(EPISODES)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(EPISODES)
    stored = memory.all()
    assert [e.text for e in stored] == EPISODES
    assert [e.id for e in stored] == ids
    assert [e.meta for e in stored] == [{"n": n} for n in range(len(EPISODES))]
    assert all(isinstance(e, Episode) and e.agent_id == "alice" for e in stored)
    assert all(e.created_at > 0 for e in stored)


def test_search_ranks_the_lexically_closest_first(engine: Engine) -> None:
    memory = EpisodicMemory(engine, HashingEmbedder(), "alice")
    for text in EPISODES:
        memory.add(text)
    results = memory.search("train from Paris to Lyon", k=2)
    assert len(results) == 2
    (best, best_score), (_, second_score) = results
    assert best.text == EPISODES[0]
    assert best_score > second_score
    assert 0 < best_score <= 1.0 + 1e-6

    results = memory.search("jazz restaurants", k=10)
    assert results[0][0].text == EPISODES[2]
    assert len(results) == len(EPISODES)
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)


def test_an_identical_query_scores_one(engine: Engine) -> None:
    memory = EpisodicMemory(engine, HashingEmbedder(), "alice")
    for text in EPISODES:
        memory.add(text)
    (episode, score), *_ = memory.search(EPISODES[1])
    assert episode.text == EPISODES[1]
    assert score == pytest.approx(1.0, abs=1e-5)


def test_search_of_an_empty_memory_is_empty(engine: Engine) -> None:
    assert EpisodicMemory(engine, HashingEmbedder(), "nobody").search("anything") == []


def test_episodes_are_per_agent(engine: Engine) -> None:
    alice = EpisodicMemory(engine, HashingEmbedder(), "alice")
    bob = EpisodicMemory(engine, HashingEmbedder(), "bob")
    alice.add("alice flew to Rome")
    bob_id = bob.add("bob flew to Rome")
    found = alice.search("flew to Rome", k=10)
    assert [e.text for e, _ in found] == ["alice flew to Rome"]
    assert [e.text for e in bob.all()] == ["bob flew to Rome"]
    # one agent cannot forget another's episode
    assert alice.forget(bob_id) is False
    assert [e.id for e in bob.all()] == [bob_id]


def test_forget_removes_an_episode(engine: Engine) -> None:
    memory = EpisodicMemory(engine, HashingEmbedder(), "alice")
    keep = memory.add("keep this")
    drop = memory.add("drop this")
    assert memory.forget(drop) is True
    assert [e.id for e in memory.all()] == [keep]
    assert [e.text for e, _ in memory.search("drop this")] == ["keep this"]
    assert memory.forget(drop) is False


def test_episodes_survive_a_new_engine(db: str) -> None:
    first = create_engine(db)
    try:
        memory = EpisodicMemory(first, HashingEmbedder(), "alice")
        for text in EPISODES:
            memory.add(text, {"source": "test"})
    finally:
        first.dispose()

    second = create_engine(db)
    try:
        reopened = EpisodicMemory(second, HashingEmbedder(), "alice")
        assert [e.text for e in reopened.all()] == EPISODES
        assert reopened.all()[0].meta == {"source": "test"}
        assert reopened.search("cancelled flight refund", k=1)[0][0].text == EPISODES[3]
    finally:
        second.dispose()


def test_searching_with_another_embedder_is_refused(engine: Engine) -> None:
    EpisodicMemory(engine, HashingEmbedder(512), "alice").add("written with 512 dimensions")
    other = EpisodicMemory(engine, HashingEmbedder(256), "alice")
    with pytest.raises(ConfigError, match=r"hashing-512.*not hashing-256"):
        other.search("anything")
    # another agent's episodes do not matter to the check
    assert EpisodicMemory(engine, HashingEmbedder(256), "bob").search("anything") == []


@pytest.mark.model
def test_minilm_ranks_by_meaning(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    embedder = MiniLMEmbedder()
    memory = EpisodicMemory(engine, embedder, "alice")
    memory.add("the soup was too salty")
    memory.add("I reserved a plane ticket to Paris")
    results = memory.search("booking a flight", k=2)
    assert [e.text for e, _ in results] == [
        "I reserved a plane ticket to Paris",
        "the soup was too salty",
    ]
    assert results[0][1] > results[1][1]
    vectors = embedder.embed(["a", "b"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
