"""The ledger: an append-only, hash-chained, signed record of tasks, work, value and credit.

Entries live in `ledger_entries` (see `lamas.store.ledger_tables`); the chain rules are the
pure ones of `lamas.protocol.ledger`. This module adds the two things a database must give:

- Appending is serialized. The head (next sequence number, previous hash) is read and the
  new entries inserted in ONE transaction that holds the ledger's write lock: on SQLite
  `BEGIN IMMEDIATE` (the database's write lock, taken before the read), on PostgreSQL a
  transaction-scoped advisory lock. The primary key on the sequence number is the last line:
  even a writer that skips the lock cannot fork the chain, its insert fails.
- Reading streams: `entries()` and `verify()` walk the table in pages by sequence number,
  so a ledger of any length is read in bounded memory.

A committed append survives a crash: the engine runs SQLite in WAL mode with
synchronous=FULL, and PostgreSQL commits durably by default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import IntegrityError

from lamas.errors import MalformedMessage
from lamas.protocol._validation import trusted
from lamas.protocol.ledger import (
    GENESIS,
    RAW_FIELDS,
    Draft,
    EntryKind,
    LedgerEntry,
    LedgerInputError,
    Raw,
    content_bytes,
    draft,
    format_time,
    signing_message,
)
from lamas.protocol.ledger_verify import ChainHead, ChainVerifier, SignatureVerifier, VerifyReport
from lamas.security.identity import KeyRing, PrivateKey, PublicKey
from lamas.store.ledger_tables import ledger_entries, ledger_signers
from lamas.store.tables import metadata

if TYPE_CHECKING:
    from lamas.economy.ledger_writer import GroupWriter

# pg_advisory_xact_lock takes a 64-bit key; this one is derived from a name, not picked.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"lamas.ledger").digest()[:8], "big", signed=True)
_RETRIES = 5  # inserts that lost a race to a writer that skipped the lock
_COLUMNS = [ledger_entries.c[name] for name in RAW_FIELDS]
_SEQ = ledger_entries.c.sequence
PARALLEL_FROM = 200_000
"""From this many entries `verify` uses every core: below it, starting processes costs more."""
_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # positional parameter styles
_INSERT = f"INSERT INTO {ledger_entries.name} ({', '.join(RAW_FIELDS)}) VALUES ({{marks}})"


@dataclass(frozen=True, slots=True)
class NewEntry:
    """One entry to append: what happened, to which task, about whom."""

    kind: EntryKind | str
    task_id: str
    payload: BaseModel | Mapping[str, Any] | None = None
    agent: str | None = None
    entity: str | None = None


class Ledger:
    """The ledger in a database. Writes need a `signer`; reading and verifying do not.

    `keyring` is whom `verify()` trusts. Without one, it trusts the keys recorded in the
    database itself (each writer records its own on its first append): that catches every
    edit made without a writer's private key, except a whole history re-signed with a key
    the editor added. Pass a keyring of keys you hold to rule that out too.
    """

    def __init__(
        self,
        engine: Engine,
        signer: PrivateKey | None = None,
        *,
        keyring: SignatureVerifier | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.keyring = keyring
        self._clock = clock or (lambda: datetime.now(UTC))
        self._backend = engine.dialect.name
        self._registered = False
        metadata.create_all(engine, tables=[ledger_entries, ledger_signers])

    # --- writing -------------------------------------------------------------------------

    def append(
        self,
        kind: EntryKind | str,
        *,
        task_id: str,
        payload: BaseModel | Mapping[str, Any] | None = None,
        agent: str | None = None,
        entity: str | None = None,
    ) -> LedgerEntry:
        """Append one entry, signed, in its own transaction."""
        return self._commit([draft(kind, task_id, agent, entity, payload)])[0]

    def append_many(self, entries: Iterable[NewEntry]) -> list[LedgerEntry]:
        """Append entries in one transaction: all of them or, on any error, none.

        Every entry is checked before anything is written; the last one is signed.
        """
        drafts = []
        for index, new in enumerate(entries):
            try:
                drafts.append(draft(new.kind, new.task_id, new.agent, new.entity, new.payload))
            except MalformedMessage as error:
                error.args = (f"entry {index} of the batch: {error}",)
                raise
        return self._commit(drafts) if drafts else []

    def writer(self, *, max_entries: int = 10_000) -> GroupWriter:
        """A group-commit writer: appends from many threads or tasks, committed together
        (one transaction, fsync and signature per group), each acknowledged after its
        commit. See `lamas.economy.ledger_writer`; close it (or use `with`) when done."""
        from lamas.economy.ledger_writer import GroupWriter

        return GroupWriter(self, max_entries=max_entries)

    def _commit(self, drafts: list[Draft]) -> list[LedgerEntry]:
        signer = self.signer
        if signer is None:
            raise LedgerInputError(
                "this ledger was opened without a signing key; pass signer=PrivateKey.load(path)"
            )
        for attempt in range(_RETRIES):
            try:
                rows = self._insert(drafts, signer)
                break
            except IntegrityError:
                if attempt == _RETRIES - 1:
                    raise
        self._registered = True
        # Each draft was checked and each row hashed just now: the first entry is validated
        # in full, the rest are built from the same checked parts without validating them
        # again (which was a third of an append's cost). All share the transaction's instant.
        first = LedgerEntry(**{**dict(zip(RAW_FIELDS, rows[0], strict=True)), "payload": {}})
        entries, at = [], first.at
        for (seq, _, task, agent, entity, _, _, me, prev, digest, sig), new in zip(
            rows, drafts, strict=True
        ):
            values = {  # RAW_FIELDS, as one literal: cheaper than zipping and updating
                "sequence": seq,
                "kind": new.kind,
                "task_id": task,
                "agent": agent,
                "entity": entity,
                "payload": new.payload,
                "at": at,
                "signer": me,
                "prev_hash": prev,
                "hash": digest,
                "signature": sig,
            }
            entries.append(trusted(LedgerEntry, values))
        return entries

    def _insert(self, drafts: list[Draft], signer: PrivateKey) -> list[Raw]:
        sha256 = hashlib.sha256
        with self._locked() as conn:
            head = conn.execute(select(_SEQ, ledger_entries.c.hash).order_by(_SEQ.desc()).limit(1))
            last = head.first()
            sequence, prev = (last[0], last[1]) if last is not None else (0, GENESIS)
            if not self._registered:
                self._register(conn, signer, sequence + 1)
            # One instant per transaction: the entries of a batch are committed together.
            at = format_time(self._clock())
            me = signer.id
            rows: list[Raw] = []
            for kind, task_id, agent, entity, _, text in drafts:
                sequence += 1
                content = content_bytes(sequence, kind, task_id, agent, entity, text, at, me, prev)
                digest = sha256(content).hexdigest()
                rows.append(
                    (sequence, kind.value, task_id, agent, entity, text, at, me, prev, digest, None)
                )
                prev = digest
            rows[-1] = (*rows[-1][:-1], signer.sign(signing_message(prev)).hex())
            marker = _MARKERS.get(conn.dialect.paramstyle)
            if marker is None:  # a driver with named parameters: through SQLAlchemy Core
                conn.execute(
                    ledger_entries.insert(), [dict(zip(RAW_FIELDS, r, strict=False)) for r in rows]
                )
            else:  # the driver's executemany, without compiling parameters row by row
                conn.exec_driver_sql(_INSERT.format(marks=", ".join([marker] * 11)), rows)
        return rows

    def _register(self, conn: Connection, signer: PrivateKey, sequence: int) -> None:
        known = select(ledger_signers.c.signer).where(ledger_signers.c.signer == signer.id)
        if conn.execute(known).first() is None:
            conn.execute(
                ledger_signers.insert().values(
                    signer=signer.id, public_key=signer.public.raw, first_sequence=sequence
                )
            )

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """A transaction holding the ledger's write lock; commits on success."""
        with self.engine.connect() as conn:
            if self._backend == "sqlite":
                # pysqlite would open the transaction itself, lazily and without the write
                # lock; in driver autocommit mode we issue BEGIN IMMEDIATE ourselves, so
                # the head read below already holds the lock. The mode is undone when the
                # connection goes back to the pool.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    # SQLite may have rolled back already (e.g. a full disk); don't mask why.
                    if getattr(conn.connection.dbapi_connection, "in_transaction", True):
                        conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
                return
            with conn.begin():
                if self._backend == "postgresql":
                    # Released at commit or rollback. It serializes writers even while the
                    # table is empty, when there is no last row to lock.
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
                yield conn

    # --- reading -------------------------------------------------------------------------

    def head(self) -> ChainHead | None:
        """The last entry's sequence number and hash (None while empty)."""
        query = select(_SEQ, ledger_entries.c.hash).order_by(_SEQ.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return ChainHead(row[0], row[1]) if row is not None else None

    def entries(
        self,
        *,
        task_id: str | None = None,
        kind: EntryKind | str | None = None,
        after: int | None = None,
        limit: int | None = None,
        page: int = 1000,
    ) -> Iterator[LedgerEntry]:
        """Entries in sequence order, optionally of one task or kind, after a sequence number.

        Streams: reads `page` rows at a time, each page in its own short read.
        """
        if kind is not None:
            try:
                kind = EntryKind(kind)
            except ValueError:
                known = ", ".join(k.value for k in EntryKind)
                raise LedgerInputError(f"unknown entry kind {kind!r} (known: {known})") from None
        where = []
        if task_id is not None:
            where.append(ledger_entries.c.task_id == task_id)
        if kind is not None:
            where.append(ledger_entries.c.kind == kind.value)
        cursor = after or 0
        remaining = limit
        while remaining is None or remaining > 0:
            size = page if remaining is None else min(page, remaining)
            query = select(*_COLUMNS).where(cursor < _SEQ, *where).order_by(_SEQ).limit(size)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield LedgerEntry.from_raw(tuple(row))
            if len(rows) < size:
                return
            cursor = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def recorded_keys(self) -> KeyRing:
        """The writers' public keys recorded in the database, each checked against its id."""
        ring = KeyRing()
        with self.engine.connect() as conn:
            for signer, raw in conn.execute(
                select(ledger_signers.c.signer, ledger_signers.c.public_key)
            ):
                key = PublicKey.from_raw(bytes(raw))
                if key.id == signer:  # a row naming another key's id vouches for nothing
                    ring.add(key)
        return ring

    def verify(
        self,
        *,
        anchor: ChainHead | None = None,
        batch: int = 20_000,
        progress: Callable[[int], None] | None = None,
        workers: int | None = None,
    ) -> VerifyReport:
        """Check the whole chain, `batch` entries at a time; the report names the first bad one.

        `anchor` is a head recorded earlier (e.g. published): the chain must still reach it,
        with the same hash. `progress` is called with the number of entries checked so far.

        `workers` > 1 splits the chain at signed entries into that many stretches, verified
        in parallel processes (default: one per core for ledgers of `PARALLEL_FROM` entries
        or more in a database file or server, else 1). The verdict is the same as one
        sequential pass: each stretch starts where a signature closed the one before, the
        joins are checked here, and anything unusual at a join (a gap, an unsigned end) is
        verified again sequentially. `progress` is called only by a sequential pass.
        """
        if workers is not None and (isinstance(workers, bool) or workers < 1):
            raise LedgerInputError(f"workers must be 1 or more processes, got {workers!r}")
        started = time.perf_counter()
        keys = self._verifying_keys()
        head = self.head()
        if workers is None:
            parallel = head is not None and head.sequence >= PARALLEL_FROM
            workers = (os.cpu_count() or 1) if parallel and self._shareable() else 1
        if workers > 1 and head is not None and self._shareable():
            from lamas.economy.ledger_parallel import verify_in_parallel

            report = verify_in_parallel(self, keys, anchor, workers, batch)
            if report is not None:
                return dataclasses.replace(report, seconds=time.perf_counter() - started)
        verifier = ChainVerifier(keys, anchor=anchor)
        self.feed_range(verifier, after=0, upto=None, batch=batch, progress=progress)
        return verifier.report(time.perf_counter() - started)

    def feed_range(
        self,
        verifier: ChainVerifier,
        *,
        after: int,
        upto: int | None,
        batch: int = 20_000,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Feed `verifier` the entries after sequence `after`, up to `upto` (or the end).

        Reads with the driver's own cursor, a page of `batch` rows per query: building
        SQLAlchemy rows was a tenth of a verification."""
        cursor = after
        with self.engine.connect() as conn:
            fetch = _page_reader(conn, upto, batch)
            while True:
                rows = fetch(cursor)
                if not rows or not verifier.feed(rows):
                    break
                if progress is not None:
                    progress(verifier.entries)
                if len(rows) < batch:
                    break
                cursor = rows[-1][0]

    def _verifying_keys(self) -> SignatureVerifier:
        if self.keyring is not None:
            return self.keyring
        ring = self.recorded_keys()
        if self.signer is not None:
            ring.add(self.signer)
        return ring

    def _shareable(self) -> bool:
        """Whether other processes can open this database (not an in-memory SQLite)."""
        database = self.engine.url.database
        return self._backend != "sqlite" or bool(database and database != ":memory:")


def _page_reader(conn: Connection, upto: int | None, batch: int) -> Callable[[int], Sequence[Raw]]:
    """A function reading the `batch` entries after a sequence number (up to `upto`)."""
    marker = _MARKERS.get(conn.dialect.paramstyle)
    if marker is None:  # a driver with named parameters: through SQLAlchemy Core
        query = select(*_COLUMNS).order_by(_SEQ).limit(batch)
        if upto is not None:
            query = query.where(upto >= _SEQ)

        def through_core(after: int) -> Sequence[Raw]:
            return [cast(Raw, tuple(row)) for row in conn.execute(query.where(after < _SEQ))]

        return through_core
    bound = "" if upto is None else f" AND sequence <= {int(upto):d}"
    sql = (
        f"SELECT {', '.join(RAW_FIELDS)} FROM {ledger_entries.name} "
        f"WHERE sequence > {marker}{bound} ORDER BY sequence LIMIT {int(batch):d}"
    )
    driver = conn.connection.dbapi_connection
    assert driver is not None, "a connection checked out of the pool has its driver's"

    def through_driver(after: int) -> Sequence[Raw]:
        cursor = driver.cursor()
        try:
            cursor.execute(sql, (after,))
            rows = cast(list[Raw], cursor.fetchall())
        finally:
            cursor.close()
        return rows

    return through_driver


def platform_ledger(url: str | None = None) -> Ledger:
    """The ledger at `url` (default: the configured database), written with the
    platform's own key, which is made once in `LAMAS_HOME/keys/platform.key`."""
    from lamas.config import lamas_home
    from lamas.security.identity import PrivateKey
    from lamas.store import create_engine

    key_file = lamas_home() / "keys" / "platform.key"
    if key_file.exists():
        signer = PrivateKey.load(key_file)
    else:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        signer = PrivateKey.generate()
        signer.save(key_file)
    return Ledger(create_engine(url), signer)
