"""Load benchmark: many travel tasks at once, in one process and over the network.

(A) in-process: N concurrent travel tasks (N = 500 and 5,000) on the embedded travel
    network, scripted slot filler, MiniLM router: completed / failed midway / refused at
    the edge ("busy, retry after"), p50 and p99 task latency, throughput, peak RSS.
    Baseline, measured in the same run: the same tasks one at a time (p50 latency of a
    lone task), so the latency ratio says what the queueing costs.
(B) networked: the registry, the six service agents and the orchestrator as processes
    of their own (as tests/chaos starts them), and C concurrent `lamas ask` clients
    (C = 200), each a process: exit codes (0 completed, 75 refused busy: 503 +
    Retry-After, 1 failed midway, others), p50/p99 client time (start to exit, Python's
    start-up included), each server's peak RSS. Baseline: one `lamas ask` alone.
(C) flood: then F A2A requests (F = 2,000) fired at once at the orchestrator from one
    process, as an attacker would: how they were answered (202/200 taken, 429 rate
    limited, 503 busy), and whether a `lamas ask` after it still completes.

Prints a table and writes JSON to benchmarks/results/load-latest.json.

Run: `python benchmarks/load.py` (`--quick` for 50/200 in-process and 20 clients;
`--networked-only` for B and C alone, written to load-networked-latest.json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import finish  # benchmarks/ is on the path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the shared test set-up: travel, cluster

from support.casestudy import TODAY, TRAVEL, scripted_slots  # noqa: E402

from lamas.agent.embeddings import HashingEmbedder, MiniLMEmbedder  # noqa: E402
from lamas.llm import ScriptedModel  # noqa: E402
from lamas.protocol import TaskState  # noqa: E402
from lamas.runtime.netfile import load  # noqa: E402
from lamas.runtime.orchestrator import Orchestrator  # noqa: E402
from lamas.runtime.recovery import Busy, Recovery  # noqa: E402

NETWORK = ROOT / "examples" / "travel" / "network.yaml"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def orchestrator(embedder: Any) -> Orchestrator:
    _, network = load(NETWORK, external=["orchestrator"])
    return Orchestrator(
        network,
        ScriptedModel(responder=scripted_slots),
        embedder,
        today=TODAY,
        recovery=Recovery(),
    )


async def one_task(orch: Orchestrator) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        session = await orch.submit(TRAVEL)
    except Busy:
        return "busy", time.perf_counter() - started
    return session.task.state.value, time.perf_counter() - started


async def in_process(n: int, embedder: Any) -> dict[str, Any]:
    orch = orchestrator(embedder)
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one_task(orch) for _ in range(n)))
    wall = time.perf_counter() - started
    latencies = [t for state, t in outcomes if state == TaskState.COMPLETED.value]
    counts = {
        "completed": sum(1 for s, _ in outcomes if s == "completed"),
        "failed": sum(1 for s, _ in outcomes if s == "failed"),
        "busy": sum(1 for s, _ in outcomes if s == "busy"),
    }
    failures = [
        (s.task.status_message.text if s.task.status_message else "")[:200]
        for s in orch.sessions.values()
        if s.task.state is TaskState.FAILED
    ][:3]
    return {
        "tasks": n,
        **counts,
        "completed_share": counts["completed"] / n,
        "p50_s": percentile(latencies, 0.5),
        "p99_s": percentile(latencies, 0.99),
        "wall_s": wall,
        "tasks_per_s": counts["completed"] / wall,
        "retries": orch.recovery.retries,
        "peak_rss_mib": peak_rss_mib(),
        "failure_examples": failures,
    }


async def lone_tasks(embedder: Any, rounds: int = 5) -> float:
    orch = orchestrator(embedder)
    times = [(await one_task(orch))[1] for _ in range(rounds)]
    return statistics.median(times)


# --- networked --------------------------------------------------------------------------

CLIENT_PRIVATE_MIB = 64
"""What one `lamas ask` process holds privately: 43 MiB once started (it was ~67 MiB
before `lamas ask` started light), up to ~64 MiB while its task streams (peak RSS 87 MiB
of which ~23 MiB shared libraries): 200 of them need ~12.5 GiB, so the run checks the
memory is there before it starts them."""


class NetworkedSetUp:
    """The registry, the six service agents (`lamas serve network.yaml --agent X`) and the
    orchestrator (tests/support/chaos_orchestrator.py: `lamas serve`'s orchestrator with
    the scripted slot filler), each a process of its own on 127.0.0.1, as tests/chaos
    starts them."""

    def __init__(self) -> None:
        from support.cluster import NETWORK as NETFILE
        from support.cluster import Cluster, free_port

        from lamas.interop.keys import make_keys
        from lamas.runtime.netfile import load_spec

        self.base = Path(tempfile.mkdtemp(prefix="lamas-load-"))
        spec = load_spec(NETFILE)
        make_keys(self.base / "keys", (a.card for a in spec.agents), callers=[spec.topology.entry])
        self.env = {
            "LAMAS_HOME": str(self.base / "home"),
            "LAMAS_VAULT_DIR": str(self.base / "vault"),
            "LAMAS_VAULT_KEY_FILE": str(self.base / "vault" / "vault.key"),
            "LAMAS_TRAVEL_BOOKINGS": f"sqlite:///{self.base / 'bookings.db'}",
        }
        self.cluster = Cluster(self.base / "keys", self.base / "logs", env=self.env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.tasks = f"sqlite:///{self.base / 'tasks.db'}"

    def __enter__(self) -> NetworkedSetUp:
        import httpx
        from support.cluster import SERVICES

        cluster = self.cluster
        try:
            cluster.start_registry()
            for agent in SERVICES:
                cluster.start_agent(agent)
            cluster.ready(timeout=300)
            helper = ROOT / "tests" / "support" / "chaos_orchestrator.py"
            ledger = f"sqlite:///{self.base / 'ledger.db'}"
            args = [str(self.base / "keys"), cluster.registry_url, str(self.port)]
            cluster.start("orchestrator", [sys.executable, str(helper), *args, self.tasks, ledger])
            cluster.wait_until(
                lambda: httpx.get(f"{self.url}.well-known/agent-card.json", timeout=2).is_success,
                "the orchestrator",
                300,
            )
        except BaseException:
            cluster.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.stop()

    def peak_rss_mib(self) -> dict[str, float]:
        """Each server process's peak resident memory (VmHWM), MiB."""
        peaks = {}
        for name, process in self.cluster.processes.items():
            status = Path(f"/proc/{process.pid}/status").read_text()
            hwm = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
            peaks[name] = int(hwm) / 1024
        return peaks

    def clients(self, count: int, text: str = TRAVEL) -> list[dict[str, Any]]:
        """`count` `lamas ask` processes started at once; each one's exit code, seconds
        from the start to its exit, and the end of what it printed."""
        from support.cluster import lamas_command

        env = {**os.environ, **self.env, "OMP_WAIT_POLICY": "passive"}
        command = lamas_command("ask", self.url, text, "--timeout", "3000")
        logs = self.base / "clients"
        logs.mkdir(exist_ok=True)
        started = time.perf_counter()
        self.load = LoadSampler()
        running = []
        for n in range(count):
            out = (logs / f"{n}-{time.monotonic_ns()}.log").open("wb")
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
            running.append((proc, out))
        ended = _wait_all([proc for proc, _ in running])
        results = []
        for (_, out), (code, usage, at) in zip(running, ended, strict=True):
            out.close()
            said = Path(out.name).read_text(errors="replace").strip().splitlines()
            results.append(
                {
                    "code": code,
                    "seconds": at - started,
                    "cpu_s": usage.ru_utime + usage.ru_stime,
                    "max_rss_mib": usage.ru_maxrss / 1024,
                    "tail": " | ".join(said[-3:])[-400:],
                }
            )
        self.load.stop()
        return results

    def outcomes(self) -> dict[str, int]:
        """The orchestrator's tasks by end state (its durable task state)."""
        from lamas.runtime.recovery import TaskStore

        counts: dict[str, int] = {}
        for state in TaskStore(self.tasks).states().values():
            counts[state] = counts.get(state, 0) + 1
        return counts


def _wait_all(procs: list[subprocess.Popen[bytes]]) -> list[tuple[int, Any, float]]:
    """Each client's exit code, resource use (CPU, peak RSS) and when it ended
    (`time.perf_counter()`), each seen as it ends, not in the order they were started."""
    ended: dict[int, tuple[int, Any, float]] = {}
    deadline = time.monotonic() + 3600
    while len(ended) < len(procs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(procs) - len(ended)} clients still running after an hour")
        for n, proc in enumerate(procs):
            if n in ended:
                continue
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                ended[n] = (proc.returncode, usage, time.perf_counter())
        time.sleep(0.1)
    return [ended[n] for n in range(len(procs))]


class LoadSampler:
    """The 1-minute load average, sampled every 2 s on a thread while clients run."""

    def __init__(self) -> None:
        import threading

        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(2.0):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        return {
            "at_start": self.samples[0],
            "median": statistics.median(self.samples),
            "max": max(self.samples),
        }


def flood(url: str, requests: int) -> dict[str, Any]:
    """`requests` A2A SendMessage requests (HTTP+JSON, answered at once, not awaited) fired
    together from one process, as an attacker would: how each was answered."""
    import secrets

    import httpx

    async def one(client: httpx.AsyncClient, n: int) -> str:
        body = {
            "message": {
                "messageId": f"flood-{n}-{secrets.token_hex(4)}",
                "role": "ROLE_USER",
                "parts": [{"text": TRAVEL}],
            },
            "configuration": {"returnImmediately": True},
        }
        headers = {"X-Lamas-Capability": secrets.token_urlsafe(32), "A2A-Version": "1.0"}
        try:
            response = await client.post(f"{url}message:send", json=body, headers=headers)
        except httpx.HTTPError as error:
            return type(error).__name__
        return str(response.status_code)

    async def fire() -> dict[str, int]:
        limits = httpx.Limits(max_connections=requests, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=300, limits=limits) as client:
            answers = await asyncio.gather(*(one(client, n) for n in range(requests)))
        counts: dict[str, int] = {}
        for answer in answers:
            counts[answer] = counts.get(answer, 0) + 1
        return counts

    started = time.perf_counter()
    counts = asyncio.run(fire())
    return {"requests": requests, "answers": counts, "seconds": time.perf_counter() - started}


def mem_available_mib() -> float:
    meminfo = Path("/proc/meminfo").read_text()
    line = next(line for line in meminfo.splitlines() if line.startswith("MemAvailable"))
    return int(line.split()[1]) / 1024


def networked(clients: int, flood_requests: int) -> dict[str, Any]:
    needed = clients * CLIENT_PRIVATE_MIB + 2048
    if mem_available_mib() < needed:
        raise SystemExit(
            f"{clients} `lamas ask` clients need ~{needed} MiB free; "
            f"{mem_available_mib():.0f} MiB are: run fewer (--clients N)"
        )
    with NetworkedSetUp() as setup:
        alone = setup.clients(1)[0]
        results = setup.clients(clients)
        load = setup.load.summary()
        tasks = setup.outcomes()
        peaks = setup.peak_rss_mib()
        flooded = flood(setup.url, flood_requests) if flood_requests else None
        if flooded is not None:
            # Still serving? Its card, at once (the flood's admitted tasks are queued).
            import httpx

            started = time.perf_counter()
            card = httpx.get(f"{setup.url}.well-known/agent-card.json", timeout=120)
            flooded["card_after_s"] = time.perf_counter() - started
            flooded["card_after_status"] = card.status_code
            flooded["tasks_after"] = setup.outcomes()
            flooded["peak_rss_mib"] = setup.peak_rss_mib()
    codes: dict[int, int] = {}
    for r in results:
        codes[r["code"]] = codes.get(r["code"], 0) + 1
    times = [r["seconds"] for r in results if r["code"] == 0]
    return {
        "clients": clients,
        "completed": codes.get(0, 0),
        "busy": codes.get(75, 0),
        "failed_midway": codes.get(1, 0),
        "other": {code: n for code, n in codes.items() if code not in (0, 1, 75)},
        "other_examples": [r["tail"] for r in results if r["code"] not in (0, 75)][:5],
        "orchestrator_tasks": tasks,
        "p50_s": percentile(times, 0.5),
        "p99_s": percentile(times, 0.99),
        "alone_s": alone["seconds"],
        "alone_code": alone["code"],
        "alone_client_cpu_s": alone["cpu_s"],
        "client_cpu_s_median": statistics.median(r["cpu_s"] for r in results),
        "client_peak_rss_mib_median": statistics.median(r["max_rss_mib"] for r in results),
        "clients_retried_busy": False,  # `lamas ask` exits 75 on 503 + Retry-After
        "load_average": load,
        "server_peak_rss_mib": peaks,
        "flood": flooded,
    }


def print_networked(net: dict[str, Any]) -> None:
    peaks = net["server_peak_rss_mib"]
    print(
        f"networked: {net['clients']} `lamas ask` clients at once: {net['completed']} "
        f"completed, {net['busy']} refused busy (503), {net['failed_midway']} failed midway, "
        f"other exits {net['other']}; p50 {net['p50_s']:.1f} s, p99 {net['p99_s']:.1f} s "
        f"(one alone: {net['alone_s']:.1f} s, exit {net['alone_code']})"
    )
    print(f"   the orchestrator's tasks: {net['orchestrator_tasks']}")
    load = net["load_average"]
    print(
        f"   each client: {net['client_cpu_s_median']:.2f} s CPU, "
        f"{net['client_peak_rss_mib_median']:.0f} MiB peak (medians; one alone: "
        f"{net['alone_client_cpu_s']:.2f} s CPU); load average (1 min) at the start "
        f"{load['at_start']:.1f}, median {load['median']:.1f}, max {load['max']:.1f}"
    )
    for tail in net["other_examples"]:
        print(f"   not completed: {tail}")
    print(
        "   peak RSS (MiB): "
        + ", ".join(f"{name} {mib:.0f}" for name, mib in sorted(peaks.items()))
        + f"; all servers {sum(peaks.values()):.0f}"
    )
    if net["flood"]:
        f = net["flood"]
        print(
            f"flood: {f['requests']} SendMessage requests at once, answered in "
            f"{f['seconds']:.1f} s: {f['answers']} (HTTP status: count); then its card in "
            f"{f['card_after_s']:.2f} s ({f['card_after_status']}); the orchestrator's tasks "
            f"then: {f['tasks_after']}; orchestrator peak RSS "
            f"{f['peak_rss_mib']['orchestrator']:.0f} MiB"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--sizes", type=int, nargs="*", help="in-process task counts")
    parser.add_argument("--clients", type=int, help="concurrent `lamas ask` clients (0: skip)")
    parser.add_argument(
        "--flood",
        type=int,
        default=2000,
        help="after the clients, A2A requests fired at once at the orchestrator (0: none)",
    )
    parser.add_argument("--networked-only", action="store_true", help="skip the in-process runs")
    parser.add_argument(
        "--router",
        choices=["minilm", "hashing"],
        default="minilm",
        help="the capability router's embedder (hashing: no torch, routes the travel "
        "instruction the same)",
    )
    args = parser.parse_args()
    sizes = args.sizes or ([50, 200] if args.quick else [500, 5000])
    clients = args.clients if args.clients is not None else (20 if args.quick else 200)
    if args.networked_only:
        net = networked(clients, args.flood)
        print_networked(net)
        checks = {
            f"{clients}_clients_none_failed_midway": net["failed_midway"] == 0 and not net["other"],
        }
        return finish("load-networked", {"networked": net}, checks)
    embedder = MiniLMEmbedder() if args.router == "minilm" else HashingEmbedder()
    baseline = asyncio.run(lone_tasks(embedder))
    runs = [asyncio.run(in_process(n, embedder)) for n in sizes]
    print(f"lone task (baseline, median of 5): {baseline * 1000:.0f} ms")
    print(
        f"{'tasks':>6} {'done':>6} {'failed':>6} {'busy':>6} {'p50 s':>7} {'p99 s':>7} "
        f"{'p50/lone':>8} {'tasks/s':>8} {'RSS MiB':>8}"
    )
    for run in runs:
        print(
            f"{run['tasks']:>6} {run['completed']:>6} {run['failed']:>6} {run['busy']:>6} "
            f"{run['p50_s']:>7.2f} {run['p99_s']:>7.2f} {run['p50_s'] / baseline:>8.1f} "
            f"{run['tasks_per_s']:>8.1f} {run['peak_rss_mib']:>8.0f}"
        )
        for text in run["failure_examples"]:
            print(f"   failed: {text}")
    net = networked(clients, args.flood) if clients else None
    if net is not None:
        print_networked(net)
    first = runs[0]
    checks = {
        f"{first['tasks']}_tasks_99pct_completed": first["completed_share"] >= 0.99,
        f"{first['tasks']}_tasks_none_failed_midway": first["failed"] == 0,
    }
    if net is not None:
        checks[f"{clients}_clients_none_failed_midway"] = (
            net["failed_midway"] == 0 and not net["other"]
        )
    result = {
        "router": args.router,
        "baseline_lone_task_s": baseline,
        "in_process": runs,
        "networked": net,
    }
    return finish("load", result, checks)


if __name__ == "__main__":
    sys.exit(main())
