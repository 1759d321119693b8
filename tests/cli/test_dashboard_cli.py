"""`lamas dashboard` as a user starts it: a real process serving a ledger file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from lamas.cli.main import app
from lamas.economy.ledger import Ledger
from lamas.protocol.ledger import EntryKind, TaskOpened
from lamas.security.identity import PrivateKey
from lamas.store import create_engine

LAMAS = [sys.executable, "-c", "from lamas.cli.main import main; main()"]


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--help"])
    assert result.exit_code == 0
    for option in ("--db", "--port", "--network"):
        assert option in result.output
    demo = CliRunner().invoke(app, ["demo", "--help"])
    assert "--dashboard" in demo.output


def test_serves_a_ledger_file_until_stopped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = Ledger(create_engine(url), PrivateKey.generate())
    ledger.append(EntryKind.TASK_OPENED, task_id="t-1", payload=TaskOpened(instruction="a trip"))
    port = _port()
    env = {**os.environ, "LAMAS_HOME": str(tmp_path)}
    server = subprocess.Popen(
        [*LAMAS, "dashboard", "--db", url, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/tasks", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "the dashboard did not start in 60 s"
                time.sleep(0.2)
        assert page.status_code == 200
        assert "a trip" in page.text
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in out


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*LAMAS, "dashboard", "--db", f"sqlite:///{tmp_path / 'l.db'}", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "LAMAS_HOME": str(tmp_path)},
        )
    assert done.returncode == 2
    assert "could not listen" in done.stderr
