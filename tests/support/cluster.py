"""The networked travel set-up as separate processes: a registry and the service agents
(`lamas registry`, `lamas serve network.yaml --agent X`), each a process of its own on
127.0.0.1, that a test can kill (SIGKILL) and start again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from support.casestudy import EXAMPLES

NETWORK = EXAMPLES / "travel" / "network.yaml"
SERVICES = ["personal", "railgo", "swiftrail", "staywell", "navigator", "logger"]


def lamas_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from lamas.cli.main import main; main()", *args]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """The registry and the service agents, each a process of its own. Each process's
    pid is written to `pids/<name>` (chaos plans kill by it); `env` is added to theirs."""

    def __init__(self, keys: Path, logs: Path, *, env: dict[str, str] | None = None) -> None:
        self.keys = keys
        self.logs = logs
        self.pids = logs / "pids"
        self.pids.mkdir(parents=True, exist_ok=True)
        self.env = dict(env or {})
        self.registry_url = f"http://127.0.0.1:{free_port()}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, list[str]] = {}

    def start(self, name: str, command: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        env = {**os.environ, "OMP_WAIT_POLICY": "passive", **self.env}
        self.commands[name] = command
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        (self.pids / name).write_text(str(self.processes[name].pid))

    def restart(self, name: str) -> None:
        self.start(name, self.commands[name])

    def start_registry(self) -> None:
        """Health checks every 0.3 s; an agent is dropped after 4 misses in a row (with 2,
        agents flapped out of discovery under a load of 30 on this 2-core machine, and a
        task asked a peer that had just been dropped)."""
        port = self.registry_url.rsplit(":", 1)[1]
        args = ["registry", "--keys", str(self.keys), "--port", port, "--interval", "0.3"]
        self.start("registry", lamas_command(*args, "--misses", "4"))

    def start_agent(self, agent: str, *target: str) -> None:
        """Serve `agent` of the travel network; or, with `target` (MODULE:ATTRIBUTE and any
        more `lamas serve` options), that agent instead."""
        what = list(target) or [str(NETWORK), "--agent", agent]
        args = ["serve", *what, "--keys", str(self.keys), "--registry", self.registry_url]
        self.start(agent, lamas_command(*args))

    def url(self, agent: str) -> str:
        """Where `agent` serves, as the registry lists it."""
        response = httpx.get(f"{self.registry_url}/agents", params={"all": "1"})
        for entry in response.json()["agents"]:
            if entry["card"]["id"] == agent:
                url: str = entry["card"]["url"]
                return url
        raise AssertionError(f"{agent} is not in the registry")

    def rss_kib(self, name: str) -> int:
        """The resident memory of a process, in KiB (Linux /proc)."""
        status = Path(f"/proc/{self.processes[name].pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def ready(self, services: list[str] = SERVICES, timeout: float = 150) -> None:
        """Wait until every service agent is listed in the registry and answers its card at
        the address listed: just after a restart the registry may still list the dead
        process as healthy (until its health checks miss), which is no agent to call."""
        self.wait_until(
            lambda: set(self.listed()) >= set(services) and all(self.answers(s) for s in services),
            "every agent listed and answering",
            timeout,
        )

    def answers(self, agent: str) -> bool:
        """Whether `agent` answers its card at the address the registry lists for it."""
        try:
            listed = httpx.get(f"{self.registry_url}/agents", params={"all": "1"}).json()
            url = next(a["card"]["url"] for a in listed["agents"] if a["card"]["id"] == agent)
            card = httpx.get(f"{url.rstrip('/')}/.well-known/agent-card.json", timeout=5)
            return card.status_code == 200
        except (httpx.HTTPError, StopIteration):
            return False

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=10)

    def dead(self) -> list[str]:
        """The processes that have exited (killed, or crashed), forgotten here."""
        gone = [name for name, p in self.processes.items() if p.poll() is not None]
        for name in gone:
            del self.processes[name]
        return gone

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    def listed(self, *, every: bool = False) -> dict[str, bool]:
        response = httpx.get(f"{self.registry_url}/agents", params={"all": "1"} if every else {})
        return {a["card"]["id"]: a["healthy"] for a in response.json()["agents"]}

    def wait_until(self, check: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None and name not in self.may_die:
                    log = (self.logs / f"{name}.log").read_text()[-2000:]
                    raise AssertionError(f"{name} exited with {process.returncode}:\n{log}")
            try:
                if check():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    may_die: frozenset[str] = frozenset()
    """Processes a chaos plan may kill: their exit is not a failure of the set-up."""
