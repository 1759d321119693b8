"""A real PostgreSQL server for the store tests, started by the tests themselves.

`postgres_server` (module scope, registered for every test by tests/conftest.py): initdb
into a temporary directory, listening on 127.0.0.1 only, run as the `postgres` user when
the tests run as root (runuser, else setpriv). Skipped, saying why, where no server can
start (no binaries, no driver).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


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
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of this module's own (initdb into a temporary directory, on
    127.0.0.1, fsync off), as a SQLAlchemy URL to an empty `lamas_test` database."""
    psycopg = pytest.importorskip(
        "psycopg", reason="the PostgreSQL driver: pip install 'psycopg[binary]'"
    )
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
