"""Load benchmark: many travel tasks at once, in one process and over the network.

(A) in-process: N concurrent travel tasks (N = 500 and 5,000) on the embedded travel
    network, scripted slot filler, MiniLM router: completed / failed midway / refused at
    the edge ("busy, retry after"), p50 and p99 task latency, throughput, peak RSS.
    Baseline, measured in the same run: the same tasks one at a time (p50 latency of a
    lone task), so the latency ratio says what the queueing costs.
(B) networked: the registry, the six service agents and the orchestrator as processes
    of their own (tests/support), and C concurrent `lamas ask` clients (C = 200), each
    a process: exit codes (0 completed, 75 busy, other failed), p50/p99 client time,
    the orchestrator's peak RSS. Baseline: one `lamas ask` alone.

Prints a table and writes JSON to benchmarks/results/load-latest.json.

Run: `python benchmarks/load.py` (`--quick` for 50/200 in-process and 20 clients).
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


def networked(clients: int) -> dict[str, Any]:
    from support.cluster import NETWORK as NETFILE
    from support.cluster import SERVICES, Cluster, free_port, lamas_command

    from lamas.interop.keys import make_keys
    from lamas.runtime.netfile import load_spec

    base = Path(tempfile.mkdtemp(prefix="lamas-load-"))
    spec = load_spec(NETFILE)
    make_keys(base / "keys", (a.card for a in spec.agents), callers=[spec.topology.entry])
    env = {
        "LAMAS_HOME": str(base / "home"),
        "LAMAS_VAULT_DIR": str(base / "vault"),
        "LAMAS_VAULT_KEY_FILE": str(base / "vault" / "vault.key"),
        "LAMAS_TRAVEL_BOOKINGS": f"sqlite:///{base / 'bookings.db'}",
    }
    cluster = Cluster(base / "keys", base / "logs", env=env)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    try:
        cluster.start_registry()
        for agent in SERVICES:
            cluster.start_agent(agent)
        cluster.ready(timeout=300)
        helper = ROOT / "tests" / "support" / "chaos_orchestrator.py"
        cluster.start(
            "orchestrator",
            [
                sys.executable,
                str(helper),
                str(base / "keys"),
                cluster.registry_url,
                str(port),
                f"sqlite:///{base / 'tasks.db'}",
                f"sqlite:///{base / 'ledger.db'}",
            ],
        )
        import httpx

        cluster.wait_until(
            lambda: httpx.get(f"{url}.well-known/agent-card.json", timeout=2).is_success,
            "the orchestrator",
            300,
        )
        child_env = {**os.environ, **env, "OMP_WAIT_POLICY": "passive"}
        command = lamas_command("ask", url, TRAVEL, "--timeout", "600")

        def run_clients(count: int) -> list[tuple[int, float]]:
            started = time.perf_counter()
            procs = [
                subprocess.Popen(
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env
                )
                for _ in range(count)
            ]
            results = []
            for proc in procs:
                code = proc.wait(timeout=1200)
                results.append((code, time.perf_counter() - started))
            return results

        alone = run_clients(1)[0][1]
        results = run_clients(clients)
        pid = cluster.processes["orchestrator"].pid
        status = Path(f"/proc/{pid}/status").read_text()
        hwm = next(
            (line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), "0"
        )
    finally:
        cluster.stop()
    times = [t for code, t in results if code == 0]
    return {
        "clients": clients,
        "completed": sum(1 for code, _ in results if code == 0),
        "busy": sum(1 for code, _ in results if code == 75),
        "failed": sum(1 for code, _ in results if code not in (0, 75)),
        "exit_codes": sorted({code for code, _ in results}),
        "p50_s": percentile(times, 0.5),
        "p99_s": percentile(times, 0.99),
        "alone_s": alone,
        "orchestrator_peak_rss_mib": int(hwm) / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--sizes", type=int, nargs="*", help="in-process task counts")
    parser.add_argument("--clients", type=int, help="concurrent `lamas ask` clients (0: skip)")
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
    net = networked(clients) if clients else None
    if net is not None:
        print(
            f"networked: {net['clients']} `lamas ask` clients: {net['completed']} completed, "
            f"{net['busy']} busy, {net['failed']} failed (exit codes {net['exit_codes']}); "
            f"p50 {net['p50_s']:.1f} s, p99 {net['p99_s']:.1f} s (one alone: "
            f"{net['alone_s']:.1f} s); orchestrator peak RSS "
            f"{net['orchestrator_peak_rss_mib']:.0f} MiB"
        )
    first = runs[0]
    checks = {
        f"{first['tasks']}_tasks_99pct_completed": first["completed_share"] >= 0.99,
        f"{first['tasks']}_tasks_none_failed_midway": first["failed"] == 0,
    }
    result = {
        "router": args.router,
        "baseline_lone_task_s": baseline,
        "in_process": runs,
        "networked": net,
    }
    return finish("load", result, checks)


if __name__ == "__main__":
    sys.exit(main())
