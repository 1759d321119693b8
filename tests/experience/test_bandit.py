"""The bandit over replicas: it learns which agent serves a capability best, gives a
newcomer a chance, and counts the later steps the chosen agent will serve too."""

from __future__ import annotations

import random

import pytest
from records import record  # tests/experience is on the path

from lamas.errors import InputError
from lamas.experience.bandit import ReplicaBandit
from lamas.runtime.router import ExperienceRouter


def play(bandit: ReplicaBandit, rates: dict[str, float], rounds: int, seed: int) -> list[str]:
    world = random.Random(seed)
    picks = []
    for _ in range(rounds):
        agent = bandit.choose("song.play", list(rates))
        bandit.update("song.play", agent, world.random() < rates[agent])
        picks.append(agent)
    return picks


def test_it_converges_on_the_reliable_replica() -> None:
    bandit = ReplicaBandit(seed=3)
    picks = play(bandit, {"songs-1": 0.95, "songs-2": 0.5}, 200, seed=4)
    assert picks[-100:].count("songs-1") >= 90
    assert bandit.mean("song.play", "songs-1") > bandit.mean("song.play", "songs-2")


def test_a_new_replica_gets_a_chance_and_is_kept_if_better() -> None:
    bandit = ReplicaBandit(seed=5)
    play(bandit, {"songs-1": 0.7, "songs-2": 0.6}, 100, seed=6)
    picks = play(bandit, {"songs-1": 0.7, "songs-2": 0.6, "songs-3": 0.98}, 150, seed=7)
    assert "songs-3" in picks[:10]  # optimistic prior: tried early
    assert picks[-50:].count("songs-3") >= 40


def test_a_vendor_whose_later_steps_fail_is_not_chosen_for_the_first() -> None:
    bandit = ReplicaBandit(seed=8)
    for _ in range(30):
        bandit.update("ticket.search", "railgo", True)
        bandit.update("ticket.search", "swiftrail", True)
        bandit.update("ticket.book", "railgo", True)
        bandit.update("ticket.book", "swiftrail", False)
    picks = [
        bandit.choose("ticket.search", ["railgo", "swiftrail"], later=["ticket.book"])
        for _ in range(50)
    ]
    assert picks.count("railgo") >= 48
    alone = [bandit.choose("ticket.search", ["railgo", "swiftrail"]) for _ in range(200)]
    assert 40 < alone.count("swiftrail") < 160  # searches alone are equally good


def test_the_router_warms_up_from_stored_records_and_validates() -> None:
    history = [record(agent="swiftrail", ok=False, error="x", at=i) for i in range(20)]
    history += [record(agent="railgo", ok=True, at=i) for i in range(20)]
    router = ExperienceRouter(seed=1, history=history)
    assert router.choose("ticket.book", ["swiftrail", "railgo"]) == "railgo"
    router.observe(record(agent="swiftrail", ok=True, at=99))
    assert router.bandit.arm("ticket.book", "swiftrail").successes == 1
    with pytest.raises(InputError):
        router.choose("ticket.book", [])
    with pytest.raises(InputError):
        ReplicaBandit(decay=0)
