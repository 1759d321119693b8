"""Every run settles: `lamas run` (local and Ray) and `lamas serve` write the task and its
settlement to the ledger, print the task id, and every command takes a unique prefix of it.
Real processes, a real SQLite ledger, a real A2A server and client."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest
from support.cli import ROOT, lamas, lamas_background

from lamas.economy.ledger import Ledger
from lamas.store import create_engine

NETWORK = str(ROOT / "tests" / "data" / "clerk" / "network.yaml")
CLERK = str(ROOT / "tests" / "data" / "clerk" / "clerk.py") + ":agent"
QUESTION = "When is the town hall open?"
SETTLED = {"task.opened", "step.done", "outcome", "credit.allocated", "payout"}


def task_ids(text: str) -> list[str]:
    return re.findall(r"task ([0-9a-f]{32})", text)


def kinds(url: str, task_id: str) -> set[str]:
    return {e.kind.value for e in Ledger(create_engine(url)).entries(task_id=task_id)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_lamas_run_settles_and_ids_work_by_prefix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    done = lamas("run", NETWORK, QUESTION, "--model", "smollm2-135m", "--db", url, home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "settlement" in done.stdout
    (task,) = set(task_ids(done.stdout))
    assert kinds(url, task) >= SETTLED

    shown = lamas("ledger", "show", "--task", task[:6], "--db", url, "--json", home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert lines
    assert all(f'"task_id":"{task}"' in line for line in lines)
    compared = lamas("credit", "compare", task[:6], "--db", url, home=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert "clerk" in compared.stdout

    other = "f" if task[0] != "f" else "0"
    unknown = lamas("ledger", "show", "--task", other * 6, "--db", url, home=tmp_path)
    assert unknown.returncode == 2
    assert "no task" in unknown.stderr


@pytest.mark.ray
def test_lamas_run_on_ray_settles_the_same(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    done = lamas(
        "run", NETWORK, QUESTION, "--runtime", "ray", "--model", "smollm2-135m", "--db", url,
        home=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (task,) = set(task_ids(done.stdout))
    assert kinds(url, task) >= SETTLED


def wait_for(log: Path, pattern: str, server: object, seconds: float = 180) -> re.Match[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        assert server.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in:\n{log.read_text()}")


def test_lamas_serve_makes_dev_keys_serves_a_network_and_settles_what_lamas_ask_sends(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    log = tmp_path / "serve.log"
    port = free_port()
    server = lamas_background(
        "serve", NETWORK, "--public", "--port", str(port), "--ledger", url,
        "--model", "smollm2-135m", home=tmp_path, log=log,
    )
    try:
        wait_for(log, r"serving A2A at", server)
        assert "development keys: made" in log.read_text()
        assert (tmp_path / "keys" / "dev" / "agents" / "orchestrator.key").is_file()
        asked = lamas("ask", f"http://127.0.0.1:{port}/", QUESTION, home=tmp_path)
        assert asked.returncode == 0, asked.stdout + asked.stderr
        assert "completed" in asked.stdout
        (task,) = set(task_ids(asked.stdout))  # `lamas ask` shows the ledger's task id
        assert wait_for(log, r"task ([0-9a-f]{32}) done", server).group(1) == task
        wait_for(log, r"settled: value", server)
        assert kinds(url, task) >= SETTLED
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_one_agent_gets_keys_and_is_served_and_asked(tmp_path: Path) -> None:
    made = lamas("keys", CLERK, str(tmp_path / "keys"), home=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "keys" / "agents" / "clerk.key").is_file()
    assert (tmp_path / "keys" / "entities" / "records-office.pub").is_file()

    missing = lamas("serve", CLERK, "--keys", str(tmp_path / "elsewhere"), home=tmp_path)
    assert missing.returncode == 2
    assert "no key file" in missing.stderr
    assert "lamas keys" in missing.stderr

    log = tmp_path / "serve.log"
    port = free_port()
    server = lamas_background(
        "serve", CLERK, "--public", "--port", str(port), "--keys", str(tmp_path / "keys"),
        home=tmp_path, log=log,
    )
    try:
        wait_for(log, r"clerk serving A2A at", server)
        asked = lamas("ask", f"http://127.0.0.1:{port}/", "When?", home=tmp_path)
        assert asked.returncode == 0, asked.stdout + asked.stderr
        assert "completed" in asked.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
