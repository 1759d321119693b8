"""A database that fails (here: a real SQLite file locked by another connection) is
named to the caller in words, never with SQLAlchemy's message and the SQL in it: through
the CLI's store errors, an A2A agent whose handler's write failed, and the A2A task store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from a2a.helpers.proto_helpers import new_text_message
from a2a.server.context import ServerCallContext
from a2a.server.tasks import DatabaseTaskStore
from a2a.types import Role, Task, TaskState, TaskStatus
from a2a.utils.errors import InternalError
from sqlalchemy.ext.asyncio import create_async_engine
from support.a2a_echo import CARD, Served

from lamas.errors import RemoteError
from lamas.interop.client import A2AConnector
from lamas.interop.server import a2a_app
from lamas.interop.taskstore import RetainingTaskStore
from lamas.protocol import Envelope, Message
from lamas.runtime.recovery.retry import is_transient
from lamas.store.errors import StoreError, describe, public_text, store_error

SECRET_ROW = "card 4111-1111"  # a value of the failed statement: it must not reach anyone


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A SQLite file with a table, held under an exclusive lock by another connection."""
    path = tmp_path / "bookings.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE bookings (id TEXT PRIMARY KEY, note TEXT)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield path
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def write(path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO bookings (id, note) VALUES (:id, :note)"),
                {"id": "RG-1", "note": SECRET_ROW},
            )
    finally:
        engine.dispose()


def no_sql(text: str) -> None:
    for leak in ("INSERT", "[SQL", "bookings (id", SECRET_ROW, "sqlalche.me", "parameters"):
        assert leak not in text, f"{leak!r} leaked: {text}"


def test_a_locked_database_is_named_busy_without_its_sql(locked: Path) -> None:
    with pytest.raises(sa.exc.OperationalError) as raised:
        write(locked)
    assert "INSERT" in str(raised.value)  # what SQLAlchemy says: the statement and its data
    error = store_error(raised.value, "the bookings store")
    assert isinstance(error, StoreError)
    assert error.busy
    assert str(error) == "the bookings store is busy, retry in a moment (database is locked)"
    no_sql(describe(raised.value))
    said = public_text(raised.value, "railgo's database")
    assert said.startswith("StoreError: railgo's database is busy, retry")
    # Passed on by a remote agent, the words are what the retry policy treats as transient.
    assert is_transient(RemoteError("railgo", said))
    # Anything that is not a database error keeps its own words.
    assert public_text(ValueError("no such city")) == "ValueError: no such city"


def test_a_missing_table_says_what_is_wrong_without_the_statement(tmp_path: Path) -> None:
    with pytest.raises(sa.exc.OperationalError) as raised:
        write(tmp_path / "empty.db")
    error = store_error(raised.value, "the ledger")
    assert not error.busy
    assert str(error) == "the ledger failed: no such table: bookings"


async def test_an_agent_whose_write_fails_answers_in_words_over_a2a(locked: Path) -> None:
    async def vendor(envelope: Envelope) -> Message:
        write(locked)  # the vendor's own bookings database is locked
        return Message.of_text("booked")

    served = Served()
    card = CARD.model_copy(update={"url": served.url})
    await served.start(a2a_app(card, vendor))
    connector = A2AConnector()
    try:
        task = await connector.send(served.url, new_text_message("book", role=Role.ROLE_USER))
    finally:
        await connector.close()
        await served.stop()
    assert task.status.state == TaskState.TASK_STATE_FAILED
    said = " ".join(p.text for p in task.status.message.parts)
    assert said == "StoreError: echo's database is busy, retry in a moment (database is locked)"
    no_sql(said)


async def test_the_a2a_task_store_fails_in_words(locked: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{locked}", connect_args={"timeout": 0.05})
    store = RetainingTaskStore(DatabaseTaskStore(engine))
    task = Task(id="t1", context_id="c1", status=TaskStatus(state=TaskState.TASK_STATE_WORKING))
    context: Any = ServerCallContext()
    try:
        with pytest.raises(InternalError) as raised:
            await store.save(task, context)
    finally:
        await engine.dispose()
    said = str(raised.value.message)
    assert said.startswith("the A2A task store is busy, retry in a moment")
    no_sql(said)
