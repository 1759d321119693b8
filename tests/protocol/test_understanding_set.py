"""The understanding evaluation set (issue 13, tests/data/understanding.jsonl) is well formed.

The set is the yardstick of instruction processing, so a malformed row would silently
score as a model error: every row must name real capabilities of its network's cards
with slots those skills accept, dates that parse and are never in the past, a scripted
answer for every expected question, and a third of the rows held out across every tag.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SET = ROOT / "tests" / "data" / "understanding.jsonl"
NETWORKS = {
    "travel": ROOT / "examples/travel/network.yaml",
    "music": ROOT / "examples/music/network.yaml",
}
PREFIX = {"travel": "tr-", "music": "mu-"}
ROW_KEYS = {
    "id",
    "split",
    "network",
    "today",
    "timezone",
    "instruction",
    "tags",
    "plan",
    "answers",
    "outcome",
}
OUTCOME_KEYS = {"question", "bookings", "searches", "not_offered"}
TAGS = {
    "relative_date",
    "clock_time",
    "duration",
    "past_date",
    "misspelling",
    "vague_place",
    "landmark",
    "station",
    "out_of_scope",
    "context",
    "conditional",
    "return_trip",
    "multi_leg",
    "preference",
    "question",
    "music",
    "search_only",
}
DATE_KEYS = {"date", "check_in"}
TIME_KEYS = {"depart_at", "depart_after", "depart_before"}
BOOKING_EXTRA = {
    "skill",
    "depart_after",
    "depart_before",
    "station_from",
    "station_to",
    "pick",
    "max_tempo_bpm",
    "title",
}
PICKS = {"earliest", "latest", "cheapest", "newest", "oldest"}
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@cache
def rows() -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@cache
def skills(network: str) -> dict[str, set[str]]:
    """Every skill the network's cards offer, with the slot names its input schema accepts."""
    spec = yaml.safe_load(NETWORKS[network].read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for agent in spec["agents"]:
        for skill in agent["card"].get("skills", []):
            props = (skill.get("input_schema") or {}).get("properties", {})
            found.setdefault(skill["name"], set()).update(props)
    return found


def ids(row: dict[str, Any]) -> str:
    return str(row.get("id"))


def test_size_ids_and_networks() -> None:
    all_rows = rows()
    assert len(all_rows) >= 150
    names = [r["id"] for r in all_rows]
    assert len(names) == len(set(names)), [n for n, c in Counter(names).items() if c > 1]
    by_net = Counter(r["network"] for r in all_rows)
    assert set(by_net) == set(NETWORKS)
    # about two thirds travel, one third music
    assert 0.55 <= by_net["travel"] / len(all_rows) <= 0.75, by_net


def test_split_is_a_third_heldout_across_every_tag() -> None:
    all_rows = rows()
    held = [r for r in all_rows if r["split"] == "heldout"]
    assert {r["split"] for r in all_rows} <= {"dev", "heldout"}
    assert len(held) == round(len(all_rows) / 3)
    used = {t for r in all_rows for t in r["tags"]}
    missing = {t for t in used if not any(t in r["tags"] for r in held)}
    assert not missing, f"tags with no heldout row: {sorted(missing)}"
    for net in NETWORKS:
        assert any(r["network"] == net for r in held)


def test_enough_out_of_scope_and_question_rows() -> None:
    all_rows = rows()
    assert sum(bool(r["outcome"]["not_offered"]) for r in all_rows) >= 20
    assert sum(r["outcome"]["question"] is not None for r in all_rows) >= 20
    # out-of-scope clauses both alone and mixed with in-scope ones
    oos = [r for r in all_rows if r["outcome"]["not_offered"]]
    assert any(not r["plan"]["steps"] for r in oos)
    assert any(r["plan"]["steps"] for r in oos)


@pytest.mark.parametrize("row", rows(), ids=ids)
def test_row(row: dict[str, Any]) -> None:
    assert set(row) == ROW_KEYS
    assert row["id"].startswith(PREFIX[row["network"]])
    assert isinstance(row["instruction"], str)
    assert row["instruction"].strip()
    ZoneInfo(row["timezone"])
    today = dt.date.fromisoformat(row["today"])
    assert row["tags"]
    assert set(row["tags"]) <= TAGS, set(row["tags"]) - TAGS
    assert len(row["tags"]) == len(set(row["tags"]))
    assert ("music" in row["tags"]) == (row["network"] == "music")
    offered = skills(row["network"])
    outcome = row["outcome"]
    assert set(outcome) == OUTCOME_KEYS

    # the plan: real capabilities, slots the skill accepts, a booking after its search
    steps = row["plan"]["steps"]
    done: list[str] = []
    for step in steps:
        capability = step["capability"]
        assert capability in offered, f"{capability} is not offered by {row['network']}"
        assert set(step.get("slots", {})) <= offered[capability], capability
        check_values(step.get("slots", {}), today)
        if capability.endswith((".book", ".play")):
            search = capability.split(".")[0] + ".search"
            assert search in done, f"{capability} without a {search} before it"
        done.append(capability)

    # the outcome: bookings and searches of offered skills, never in the past
    for booking in outcome["bookings"]:
        skill = booking["skill"]
        assert skill in offered
        assert skill in done
        search = skill.split(".")[0] + ".search"
        assert set(booking) <= offered[search] | BOOKING_EXTRA | {"origin", "destination", "city"}
        assert booking.get("pick", "earliest") in PICKS
        check_values(booking, today)
    for search in outcome["searches"]:
        assert search["skill"] in offered
        assert search["skill"] in done
        assert set(search) - {"skill"} <= offered[search["skill"]]
        check_values(search, today)
    assert steps or outcome["not_offered"] or outcome["question"], "a row must expect something"

    # questions: the tag, the expected question and the scripted answers go together
    question = outcome["question"]
    assert ("question" in row["tags"]) == (question is not None)
    assert bool(row["answers"]) == (question is not None)
    if question is not None:
        assert set(question) == {"about", "mentions"}
        assert question["about"]
        assert all(isinstance(m, str) and m for m in question["mentions"])

    # out of scope: tagged, and reported the same way in the plan and the outcome
    assert row["plan"]["not_offered"] == outcome["not_offered"]
    assert ("out_of_scope" in row["tags"]) == bool(outcome["not_offered"])
    assert ("search_only" in row["tags"]) == bool(outcome["searches"])
    if "conditional" in row["tags"]:
        assert outcome["bookings"], "a conditional whose condition holds ends in the booking"
    if {"return_trip", "multi_leg"} & set(row["tags"]):
        assert sum(b["skill"] == "ticket.book" for b in outcome["bookings"]) >= 2


def check_values(slots: dict[str, Any], today: dt.date) -> None:
    for key, value in slots.items():
        if key in DATE_KEYS:
            assert dt.date.fromisoformat(value) >= today, f"{key}={value} is before today {today}"
        if key in TIME_KEYS:
            assert HHMM.match(value), f"{key}={value} is not HH:MM"
        if key in {"nights", "min_stars", "count", "max_duration_s", "max_tempo_bpm"}:
            assert isinstance(value, int), f"{key}={value}"
            assert value >= 1, f"{key}={value}"
