"""The experience store on SQLite (a file) and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from records import record  # tests/experience is on the path
from sqlalchemy import Engine, delete

from lamas.errors import InputError
from lamas.experience.store import ExperienceStore
from lamas.store import create_engine
from lamas.store.experience_tables import experience_records

# The ledger tests' PostgreSQL server fixture (initdb on 127.0.0.1, skipped with a reason
# where it cannot start), reused rather than copied.


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    else:
        made = create_engine(request.getfixturevalue("postgres_server"))
        with made.begin() as connection:
            connection.execute(delete(experience_records))
    yield made
    made.dispose()


def test_records_read_back_exactly_and_filter(engine: Engine) -> None:
    store = ExperienceStore(engine)
    first = record(task="t1", at=1.0)
    second = record(task="t2", agent="swiftrail", ok=False, error="sold out", at=2.0)
    third = record(task="t2", step="s2", capability="hotel.book", agent="staywell", at=3.0)
    store.add_many([first, second, third])

    assert store.records() == [first, second, third]
    assert store.records(task_id="t2") == [second, third]
    assert store.records(agent="swiftrail") == [second]
    assert store.records(ok=False) == [second]
    assert store.records(capability="hotel.book") == [third]
    assert store.records(since=2.5) == [third]
    assert store.records(newest_first=True, limit=1) == [third]
    assert store.count() == 3


def test_credit_is_split_over_an_agents_steps_and_feedback_is_kept(engine: Engine) -> None:
    store = ExperienceStore(engine)
    store.add_many(
        [
            record(task="t1", step="search", capability="ticket.search"),
            record(task="t1", step="book"),
            record(task="t1", step="hotel", agent="staywell"),
        ]
    )
    assert store.set_credit("t1", {"railgo": Decimal("1.00"), "nobody": Decimal(5)}) == 2
    store.set_feedback("t1", -0.5, "the train was late")

    credits = {r.step_id: r.credit for r in store.records(task_id="t1")}
    assert credits == {"search": Decimal("0.5"), "book": Decimal("0.5"), "hotel": None}
    assert {r.outcome.feedback for r in store.records(task_id="t1")} == {-0.5}
    assert store.records(task_id="t1")[0].outcome.feedback_note == "the train was late"


def test_bad_feedback_is_refused_and_changes_nothing(engine: Engine) -> None:
    store = ExperienceStore(engine)
    store.add(record(task="t1"))
    with pytest.raises(InputError, match="between -1 and 1"):
        store.set_feedback("t1", 3)
    with pytest.raises(InputError, match="no experience recorded for task 'nope'"):
        store.set_feedback("nope", 1)
    assert store.records()[0].outcome.feedback is None
