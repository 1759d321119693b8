"""The ledger on a real PostgreSQL server: append, batch, verify, tamper detection, and
concurrent writers serialized by the advisory lock.

The server is this module's own: initdb into a temporary directory, listening on 127.0.0.1
on a free port, stopped at the end. PostgreSQL refuses to run as root, so as root it runs as
the `postgres` user (runuser, else setpriv). Skipped, saying why, where no server can start.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ledger_rows import row, tamper  # tests/economy is on the path
from sqlalchemy import Engine, delete, update

from lamas.economy import Ledger, NewEntry
from lamas.protocol.ledger import (
    GENESIS,
    RAW_FIELDS,
    LedgerEntry,
    Outcome,
    content_bytes,
    entry_hash,
    signing_message,
)
from lamas.security import KeyRing, PrivateKey
from lamas.store import create_engine
from lamas.store.ledger_tables import ledger_entries, ledger_signers

psycopg = pytest.importorskip(
    "psycopg", reason="the PostgreSQL driver: pip install 'psycopg[binary]'"
)


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    return versions[-1] if versions else None


def _version(path: str) -> int:
    folder = Path(path).parent.parent.name
    return int(folder) if folder.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user(base: Path) -> list[str]:
    """The command prefix that runs the server as a non-root user (nothing if not root)."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
    os.chown(base, user.pw_uid, user.pw_gid)
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"]
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    pytest.skip("running as root without runuser or setpriv to start PostgreSQL as 'postgres'")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
    base = Path(tempfile.mkdtemp(prefix="lamas-pg-"))
    try:
        as_user = _as_server_user(base)
        data, port = base / "data", _free_port()
        init = [
            initdb,
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]
        made = subprocess.run([*as_user, *init], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"initdb failed: {made.stderr.strip()[-300:]}")
        # fsync off: this server holds test data only; durability is SQLite's test's subject.
        options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off"
        start = [*as_user, pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-t", "30"]
        started = subprocess.run([*start, "-o", options, "start"], capture_output=True, text=True)
        if started.returncode != 0:
            log = (base / "log").read_text() if (base / "log").exists() else started.stderr
            pytest.skip(f"PostgreSQL did not start: {log.strip()[-300:]}")
        try:
            admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("CREATE DATABASE lamas_test")
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/lamas_test"
        finally:
            stop = [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]
            subprocess.run(stop, capture_output=True, check=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pg(server: str) -> Iterator[Engine]:
    engine = create_engine(server)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(pg: Engine) -> Engine:
    with pg.begin() as conn:  # each test starts from an empty ledger
        conn.execute(delete(ledger_entries))
        conn.execute(delete(ledger_signers))
    return pg


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return PrivateKey.generate()


def story(ledger: Ledger) -> list[LedgerEntry]:
    """Ten entries: 1..3 single appends, 4..10 one batch (signed: 1, 2, 3, 10)."""
    written = [ledger.append("task.opened", task_id="t1", payload={"instruction": "Lyon"})]
    written.append(
        ledger.append("step.done", task_id="t1", agent="hotel", payload={"step_id": "s1"})
    )
    written.append(
        ledger.append(
            "outcome",
            task_id="t1",
            payload=Outcome(value=Decimal("1234.5600"), currency="EUR", basis="flat_fee"),
        )
    )
    written += ledger.append_many(
        NewEntry("credit.allocated", "t1", {"amount": f"{i}.10", "currency": "EUR"}, f"a{i}")
        for i in range(7)
    )
    return written


def test_append_batch_read_and_verify(engine: Engine, key: PrivateKey) -> None:
    ledger = Ledger(engine, key)
    written = story(ledger)
    assert [e.sequence for e in written] == list(range(1, 11))
    assert written[0].prev_hash == GENESIS
    assert [e.sequence for e in written if e.signature] == [1, 2, 3, 10]
    assert list(ledger.entries()) == written
    assert [e.sequence for e in ledger.entries(kind="credit.allocated", after=5, limit=3)] == [
        6,
        7,
        8,
    ]
    body = next(iter(ledger.entries(kind="outcome"))).body()
    assert isinstance(body, Outcome)
    assert str(body.value) == "1234.5600"  # exact, trailing zeros and all
    report = Ledger(engine, keyring=KeyRing([key.public])).verify(batch=3)
    assert report.ok, report
    assert (report.entries, report.signatures) == (10, 4)


def _edit(engine: Engine) -> None:
    tamper(engine, 5, payload='{"amount":"99.10","currency":"EUR","outcome":null,"rule":"shapley"}')


def _delete(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.sequence == 5))


def _swap(engine: Engine) -> None:
    fifth, sixth = row(engine, 5), row(engine, 6)
    with engine.begin() as conn:
        for values in (fifth | {"sequence": 6}, sixth | {"sequence": 5}):
            values["hash"] = entry_hash(content_bytes(*(values[n] for n in RAW_FIELDS[:9])))
            conn.execute(
                update(ledger_entries)
                .where(ledger_entries.c.sequence == values["sequence"])
                .values(**values)
            )


def _forge(engine: Engine) -> None:
    intruder = PrivateKey.generate()
    tamper(engine, 3, signature=intruder.sign(signing_message(row(engine, 3)["hash"])).hex())


@pytest.mark.parametrize(
    ("attack", "sequence", "reason"),
    [
        (_edit, 5, "content does not match its hash"),
        (_delete, 5, "sequence gap: entry 5 is missing"),
        (_swap, 5, "prev_hash does not match entry 4's hash"),
        (_forge, 3, "signature does not verify"),
    ],
    ids=["edited", "deleted", "swapped", "forged"],
)
def test_tampering_is_named(
    engine: Engine, key: PrivateKey, attack: Any, sequence: int, reason: str
) -> None:
    story(Ledger(engine, key))
    attack(engine)
    report = Ledger(engine, keyring=KeyRing([key.public])).verify()
    assert report.problem is not None
    assert report.problem.sequence == sequence
    assert report.problem.reason.startswith(reason)


def test_concurrent_writers_are_serialized(engine: Engine) -> None:
    keys = [PrivateKey.generate() for _ in range(3)]
    errors: list[BaseException] = []

    def write(key: PrivateKey) -> None:
        ledger = Ledger(engine, key)
        try:
            for i in range(8):
                if i % 2:
                    ledger.append("task.opened", task_id=f"{key.id}-{i}")
                else:
                    ledger.append_many(
                        [NewEntry("task.opened", f"{key.id}-{i}-{j}") for j in range(4)]
                    )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = Ledger(engine, keyring=KeyRing(k.public for k in keys)).verify()
    assert report.ok, report
    assert report.entries == 3 * (4 + 4 * 4)
