"""Ids by unique prefix: exact, unique, ambiguous, unknown, malformed; and in a database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from lamas.errors import InputError
from lamas.protocol.ids import AmbiguousId, UnknownId, match_prefix
from lamas.store import create_engine
from lamas.store.experience_tables import experience_records
from lamas.store.prefix import resolve_prefix

IDS = ["8b0e42a2aa", "8b0e99ffbb", "c0ffee0000", "c0ffee"]


def test_a_unique_prefix_names_its_id_and_an_exact_id_wins() -> None:
    assert match_prefix("8b0e4", IDS, "task") == "8b0e42a2aa"
    assert match_prefix("c0ffee", IDS, "task") == "c0ffee"  # exact, though a prefix of another


def test_an_ambiguous_or_unknown_prefix_says_which_it_is() -> None:
    with pytest.raises(AmbiguousId, match=r"'8b0e' is ambiguous: it starts 2 task ids") as caught:
        match_prefix("8b0e", IDS, "task")
    assert caught.value.matches == ["8b0e42a2aa", "8b0e99ffbb"]
    with pytest.raises(UnknownId, match="no task 'dead'"):
        match_prefix("dead", IDS, "task")


@pytest.mark.parametrize("bad", ["", "8b%", "a b", "_x", "x" * 200, "é"])
def test_a_prefix_that_cannot_be_part_of_an_id_is_refused(bad: str) -> None:
    with pytest.raises(InputError, match="not a task id or prefix"):
        match_prefix(bad, IDS, "task")


def test_prefixes_resolve_in_the_database_with_like_wildcards_taken_literally(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    rows = [
        {"id": f"r{i}", "task_id": task, "agent": agent, "step_id": "s", "capability": "c",
         "kind": "k", "strategy": "s", "record": "{}", "at": 0.0, "ok": True}
        for i, (task, agent) in enumerate([("ab_1", "rail.go"), ("abx1", "railx"), ("zz", "z")])
    ]
    with engine.begin() as connection:
        connection.execute(insert(experience_records), rows)
    column = experience_records.c.task_id
    assert resolve_prefix(engine, column, "ab_", "task") == "ab_1"  # '_' is not a wildcard
    with pytest.raises(AmbiguousId):
        resolve_prefix(engine, column, "ab", "task")
    with pytest.raises(UnknownId):
        resolve_prefix(engine, column, "q", "task")
    assert resolve_prefix(engine, experience_records.c.agent, "rail.", "agent") == "rail.go"
