"""Database failures in words a user can act on, never the SQL that failed.

SQLAlchemy's own message carries the statement and its parameters (`[SQL: UPDATE tasks
SET ...]`, `[parameters: (...)]`): that is for the operator's log, not for a caller of
the CLI or of an A2A agent (it shows the schema and the data of other users' rows).
`describe(error, what)` says what failed ("the task store is busy, retry in a moment
(database locked)"); `StoreError` carries it as a lamas error. A busy store (locked, no
free connection) is worded "busy, retry", which is what the retry policy treats as
transient (`runtime/recovery/retry.py`).
"""

from __future__ import annotations

import sys

from lamas.errors import LamasError

_BUSY_WORDS = ("locked", "busy", "too many connections", "could not obtain lock")
_MAX_REASON = 200


class StoreError(LamasError):
    """A database could not do what was asked; the message names what, without SQL."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        self.busy = busy
        super().__init__(message)


def is_database_error(error: BaseException) -> bool:
    """Whether `error` is SQLAlchemy's (a database or driver failure)."""
    exc = sys.modules.get("sqlalchemy.exc")
    return exc is not None and isinstance(error, exc.SQLAlchemyError)


def describe(error: BaseException, what: str = "the database") -> str:
    """`error` in words, for a user: what failed and what to do, no statement."""
    return store_error(error, what).args[0]  # type: ignore[no-any-return]


def store_error(error: BaseException, what: str = "the database") -> StoreError:
    """A `StoreError` saying why `what` failed, for a SQLAlchemy error (anything else is
    named by its type alone: its text may quote a statement too)."""
    if not is_database_error(error):
        return StoreError(f"{what} failed ({type(error).__name__})")
    from sqlalchemy import exc

    if isinstance(error, exc.TimeoutError):  # the pool had no connection in time
        return StoreError(
            f"{what} is busy, retry in a moment (no free database connection)", busy=True
        )
    reason = _reason(error)
    if any(word in reason.casefold() for word in _BUSY_WORDS):
        return StoreError(f"{what} is busy, retry in a moment ({reason})", busy=True)
    if isinstance(error, exc.IntegrityError):
        return StoreError(f"{what} refused a write that conflicts with what it holds ({reason})")
    if isinstance(error, exc.DBAPIError):
        return StoreError(f"{what} failed: {reason}")
    return StoreError(f"{what} failed ({type(error).__name__})")


def _reason(error: BaseException) -> str:
    """The driver's own words (`database is locked`, `no such table: tasks`), first line
    only: PostgreSQL's DETAIL lines quote row values."""
    original = getattr(error, "orig", None)
    text = str(original) if original is not None else ""
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:_MAX_REASON]


def public_text(error: BaseException, what: str = "the database") -> str:
    """How a failure is named to a caller (a task's status, an A2A error): `Type: text`,
    a database error as `StoreError: <describe>`, without its SQL."""
    if is_database_error(error):
        return f"StoreError: {describe(error, what)}"
    return f"{type(error).__name__}: {error}"
