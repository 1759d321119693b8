"""Lamas processes for the networked tests: a registry and agents, each its own process
(`lamas registry`, `lamas serve ...`) on 127.0.0.1, with their output in log files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def lamas_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from lamas.cli.main import main; main()", *args]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """The registry and the agents of a network, each a process of its own."""

    def __init__(
        self,
        keys: Path,
        logs: Path,
        network: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.keys = keys
        self.logs = logs
        self.network = network
        self.env = {**os.environ, "OMP_WAIT_POLICY": "passive", **(env or {})}
        self.registry_url = f"http://127.0.0.1:{free_port()}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            lamas_command(*args), stdout=log, stderr=subprocess.STDOUT, env=self.env
        )

    def start_registry(self) -> None:
        """Health checks every 0.3 s; an agent is dropped after 4 misses in a row (with 2,
        agents flapped out of discovery under a load of 30 on this 2-core machine, and a
        task asked a peer that had just been dropped)."""
        port = self.registry_url.rsplit(":", 1)[1]
        args = ["registry", "--keys", str(self.keys), "--port", port, "--interval", "0.3"]
        self.start("registry", [*args, "--misses", "4"])

    def start_agent(self, agent: str, *extra: str) -> None:
        """Serve `agent` of the network file (or, with no network, `extra` names it)."""
        target = [str(self.network), "--agent", agent] if self.network else []
        args = ["serve", *target, "--keys", str(self.keys), "--registry", self.registry_url]
        self.start(agent, [*args, *extra])

    def ready(self, agents: list[str], timeout: float = 150.0) -> None:
        """Wait until every one of `agents` is listed in the registry as answering."""
        self.wait_until(lambda: set(self.listed()) >= set(agents), "every agent listed", timeout)

    def url(self, agent: str) -> str:
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

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    def listed(self, *, every: bool = False) -> dict[str, bool]:
        response = httpx.get(f"{self.registry_url}/agents", params={"all": "1"} if every else {})
        return {a["card"]["id"]: a["healthy"] for a in response.json()["agents"]}

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def wait_until(self, check: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    log = self.log(name)[-2000:]
                    raise AssertionError(f"{name} exited with {process.returncode}:\n{log}")
            try:
                if check():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")
