"""Idempotency keys: a booking asked twice under one key is made once.

The orchestrator gives every booking request a key made of the task, the step and the
round of choice (`idempotency_key`), in the message's metadata. A vendor serves such
requests through `IdempotentResults.once`: the first request under a key does the work
and its result is stored; every later one (a retry after a lost reply, a resumed task
after a crash) gets that same result back. Concurrent requests under one key wait for
the first. A cancel under a key that was never booked leaves a tombstone, so a booking
that arrives after its own compensation is refused instead of made. A key is bound to
the request first made under it (a digest of its skill and data): the same key with a
different request is refused with `IdempotencyConflict`, never answered with the first
result as if it were this one's.

Kept in the store (`idempotent_results`: SQLite by default, PostgreSQL by URL) so that
a vendor that crashes and restarts still knows what it has done; without a URL, in
memory (a vendor whose bookings die with it).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lamas.errors import InputError
from lamas.protocol.messages import Envelope, Message

IDEMPOTENCY_KEY = "idempotency_key"
"""The message metadata key carrying a request's idempotency key."""

CONFIRMED = "confirmed"
CANCELLED = "cancelled"

JSON = dict[str, Any]


def idempotency_key(task_id: str, step_id: str, round_: int = 0) -> str:
    """The key of a step's request in a task; a new round of choice gets a new key."""
    return f"{task_id}:{step_id}" if round_ == 0 else f"{task_id}:{step_id}:r{round_}"


def with_key(message: Message, key: str) -> Message:
    return message.model_copy(
        update={"metadata": {**(message.metadata or {}), IDEMPOTENCY_KEY: key}}
    )


def key_of(envelope: Envelope) -> str | None:
    """The request's idempotency key, if it carries one (a non-empty string)."""
    key = (envelope.message.metadata or {}).get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > 300:
        raise InputError(f"{IDEMPOTENCY_KEY} must be a string of 1 to 300 characters, got {key!r}")
    return key


def request_digest(skill: str, data: JSON) -> str:
    """What a key is bound to: the skill and its data, canonical JSON, SHA-256."""
    canonical = json.dumps([skill, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class AlreadyCancelled(InputError):
    """A booking was asked under a key whose booking was already compensated."""


class IdempotencyConflict(InputError):
    """A key already used for one request came with a different one: refused, since
    returning the first request's result would answer a question that was not asked."""

    def __init__(self, key: str, skill: str, first_skill: str) -> None:
        self.key = key
        what = "a different request" if skill == first_skill else f"{first_skill}, not {skill}"
        super().__init__(
            f"idempotency key {key!r} was already used for {what} (other data); a key "
            "names one request: send a new key for a new request, or the same data to get "
            "the first result again"
        )


@dataclass(frozen=True, slots=True)
class Served:
    key: str
    skill: str
    task_id: str | None
    result: JSON
    status: str
    digest: str | None = None
    """The request the key is bound to (`request_digest`); None for records made before
    keys were bound, or for a tombstone."""


class IdempotentResults:
    """One agent's results by idempotency key (see the module docstring)."""

    def __init__(self, agent_id: str, url: str | None = None) -> None:
        self.agent_id = agent_id
        self._engine: Any = None
        if url:
            from lamas.store.engine import create_engine
            from lamas.store.recovery_tables import idempotent_results

            # Only this table: several vendor processes may open one file at once, and
            # each creating every lamas table would race.
            self._engine = create_engine(url, create_tables=False)
            create_table(self._engine, idempotent_results)
        self._memory: dict[str, Served] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def once(
        self,
        key: str | None,
        skill: str,
        task_id: str | None,
        work: Callable[[], Awaitable[JSON]],
        *,
        request: JSON | None = None,
        ref: Callable[[JSON], str] = lambda result: str(result.get("booking_id", "")),
    ) -> JSON:
        """`work()`'s result, done at most once per `key` (always done without a key).
        With `request` (the request's data), the key is bound to it: a repeat under the
        key with other data or another skill raises `IdempotencyConflict`."""
        if key is None:
            return await work()
        digest = request_digest(skill, request) if request is not None else None
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            served = self.get(key)
            if served is not None:
                if served.status == CANCELLED and not served.result:
                    raise AlreadyCancelled(
                        f"the request under key {key!r} was cancelled before it was made"
                    )
                if served.skill != skill or (
                    digest is not None and served.digest is not None and served.digest != digest
                ):
                    raise IdempotencyConflict(key, skill, served.skill)
                return dict(served.result)
            result = await work()
            self._put(Served(key, skill, task_id, result, CONFIRMED, digest), ref(result))
            return result

    def cancel(self, key: str, skill: str, task_id: str | None) -> Served | None:
        """Mark what was done under `key` cancelled and return it as it was (None if
        nothing was: a tombstone then stops a late booking under that key)."""
        served = self.get(key)
        if served is None:
            self._put(Served(key, skill, task_id, {}, CANCELLED), "")
            return None
        if served.status != CANCELLED:
            self._put(
                Served(key, served.skill, served.task_id, served.result, CANCELLED, served.digest),
                None,
            )
        return served

    def by_ref(self, ref: str) -> Served | None:
        """What was served under the reference `ref` (a booking id)."""
        if self._engine is None:
            return next(
                (s for s in self._memory.values() if s.result.get("booking_id") == ref), None
            )
        from sqlalchemy import select

        from lamas.store.recovery_tables import idempotent_results as t

        with self._engine.connect() as connection:
            row = connection.execute(
                select(t).where(t.c.agent_id == self.agent_id, t.c.ref == ref)
            ).first()
        return _served(row) if row is not None else None

    def get(self, key: str) -> Served | None:
        if self._engine is None:
            return self._memory.get(key)
        from sqlalchemy import select

        from lamas.store.recovery_tables import idempotent_results as t

        with self._engine.connect() as connection:
            row = connection.execute(
                select(t).where(t.c.agent_id == self.agent_id, t.c.key == key)
            ).first()
        return _served(row) if row is not None else None

    def all(self) -> list[Served]:
        if self._engine is None:
            return list(self._memory.values())
        from sqlalchemy import select

        from lamas.store.recovery_tables import idempotent_results as t

        with self._engine.connect() as connection:
            rows = connection.execute(select(t).where(t.c.agent_id == self.agent_id)).all()
        return [_served(row) for row in rows]

    def _put(self, served: Served, ref: str | None) -> None:
        if self._engine is None:
            self._memory[served.key] = served
            return
        from sqlalchemy import insert, update

        from lamas.store.recovery_tables import idempotent_results as t

        values = {
            "skill": served.skill,
            "task_id": served.task_id,
            "result": json.dumps(served.result, sort_keys=True, default=str),
            "status": served.status,
            "digest": served.digest,
        }
        if ref is not None:
            values["ref"] = ref
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(t)
                .where(t.c.agent_id == self.agent_id, t.c.key == served.key)
                .values(**values)
            ).rowcount
            if not changed:
                connection.execute(
                    insert(t).values(
                        **{
                            "agent_id": self.agent_id,
                            "key": served.key,
                            "created_at": time.time(),
                            "ref": ref or "",
                            **values,
                        }
                    )
                )


def _served(row: Any) -> Served:
    return Served(row.key, row.skill, row.task_id, json.loads(row.result), row.status, row.digest)


def create_table(engine: Any, table: Any) -> None:
    """Create `table` if it is missing, and add the nullable columns a table made by an
    earlier version lacks; another process doing either at the same moment is not an
    error."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import DBAPIError

    try:
        table.create(engine, checkfirst=True)
    except DBAPIError:
        if not inspect(engine).has_table(table.name):
            raise
    have = {column["name"] for column in inspect(engine).get_columns(table.name)}
    for column in table.columns:
        if column.name not in have and column.nullable:
            try:
                quote = engine.dialect.identifier_preparer.quote
                kind = column.type.compile(dialect=engine.dialect)
                with engine.begin() as connection:
                    connection.execute(
                        text(
                            f"ALTER TABLE {quote(table.name)} "
                            f"ADD COLUMN {quote(column.name)} {kind}"
                        )
                    )
            except DBAPIError:
                have = {c["name"] for c in inspect(engine).get_columns(table.name)}
                if column.name not in have:
                    raise
