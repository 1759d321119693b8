"""Population benchmark: N simple agents in a graph play a repeated opinion game, on the
local runtime (one process, LocalTransport) and on Ray (2 shard actors, RayTransport).

In the spirit of AgentScope's large-scale simulations. The graph is a ring lattice of
degree 4 (each agent's neighbours are the agents 1 and 2 places away on either side), a
`graph` topology of lamas.protocol.topology; it is checked against `lay_out` for a small
N. Each round every agent sends its opinion (0 or 1) to one of its neighbours (drawn by
a hash of its index and the round), as a one-way envelope: N messages a round. Once
every message of the round is handled, each agent takes the majority of what it heard
(a tie, or hearing nothing, keeps its opinion). The game is deterministic, so both
runtimes must end each round with the same count of 1s: the benchmark checks that as
well as timing it.

A round is timed from the driver's "go" to the last agent's new opinion. Reported per N
(10k, 100k): median seconds per round and messages per second on each runtime, their
ratio (Ray / local), CPU seconds per round (all processes: less sensitive than wall time
to a machine shared with others) and the resident memory (RSS) of everything the run
needs: for Ray, the driver and every process it started (GCS, raylet, shard workers,
Ray's helpers), summed. Each run is a fresh process, so that no run inherits another's
memory; the runtimes alternate, `--repeats` times each, so that load hits both.

Run: `python benchmarks/population.py` (or `make bench-population`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lamas.protocol import Context, Envelope, Message
from lamas.runtime.ray_transport import DEFAULT_BATCH
from lamas.runtime.transport import LocalTransport

TARGETS = {"ray_memory_gib_100k": 4.0, "ray_round_seconds_100k": 10.0}
DEGREE_OFFSETS = (1, -1, 2, -2)
OPINIONS = (Message.of_text("0"), Message.of_text("1"))


def agent_id(index: int) -> str:
    return f"p{index}"


def neighbour(index: int, round_no: int, n: int) -> int:
    """The neighbour `index` talks to in round `round_no`: one of its 4, drawn by a hash of
    both (so some agents hear several votes and some none: the majority moves)."""
    draw = zlib.crc32(f"{index}:{round_no}".encode()) % len(DEGREE_OFFSETS)
    return (index + DEGREE_OFFSETS[draw]) % n


def first_opinion(index: int) -> int:
    # About a third start with 1; crc32 so that every process agrees.
    return 1 if zlib.crc32(agent_id(index).encode()) % 3 == 0 else 0


class Voter:
    """One agent: its opinion, and the votes heard this round. About 100 bytes."""

    __slots__ = ("heard", "index", "opinion", "tally")

    def __init__(self, index: int, tally: Tally) -> None:
        self.index = index
        self.opinion = first_opinion(index)
        self.heard = 0  # votes for 1 minus votes for 0
        self.tally = tally

    async def receive(self, envelope: Envelope, context: Context) -> None:
        self.heard += 1 if envelope.message.parts[0].text == "1" else -1  # type: ignore[union-attr]
        self.tally.received += 1
        if self.tally.received >= self.tally.expected:
            self.tally.done.set()


class Tally:
    """What one process's voters heard this round, and whether all of it has arrived."""

    def __init__(self) -> None:
        self.received = 0
        self.expected = 1 << 62
        self.done = asyncio.Event()


def install(
    transport: LocalTransport,
    n: int,
    hosts: Callable[[str], bool],
    coordinator: str,
    drain: Callable[[], Any] | None = None,
) -> int:
    """Register the voters `hosts` accepts and a coordinator that runs rounds for them."""
    tally = Tally()
    voters = [Voter(i, tally) for i in range(n) if hosts(agent_id(i))]
    for voter in voters:
        transport.register(agent_id(voter.index), voter.receive, concurrency=1)
    placement = getattr(transport, "placement", None)

    async def coordinate(envelope: Envelope, context: Context) -> Message:
        data = envelope.message.data
        if envelope.skill == "round":  # every voter here sends its opinion to a neighbour
            round_no = data["round"]
            sent_to: dict[int, int] = {}
            for voter in voters:
                target = agent_id(neighbour(voter.index, round_no, n))
                await transport.post(
                    Envelope(
                        sender=agent_id(voter.index),
                        recipient=target,
                        skill="vote",
                        mode="async",
                        message=OPINIONS[voter.opinion],
                    )
                )
                shard = placement(target) if placement is not None else 0
                sent_to[shard] = sent_to.get(shard, 0) + 1
            if drain is not None:
                await drain()  # every post has reached its shard's mailboxes
            return Message.of_data({"sent_to": {str(k): v for k, v in sent_to.items()}})
        # "tally": once all this round's votes are handled, each voter takes the majority.
        tally.expected = data["expected"]
        if tally.received < tally.expected:
            await tally.done.wait()
        ones = 0
        for voter in voters:
            if voter.heard:
                voter.opinion = 1 if voter.heard > 0 else 0
            voter.heard = 0
            ones += voter.opinion
        tally.received, tally.expected = 0, 1 << 62
        tally.done = asyncio.Event()
        return Message.of_data({"ones": ones})

    transport.register(coordinator, coordinate)
    return len(voters)


@dataclass(frozen=True)
class PopulationShard:
    """The shard setup: this shard's voters and its coordinator `pop-<shard>`."""

    n: int

    def __call__(self, transport: Any) -> None:
        home = transport.home
        install(
            transport,
            self.n,
            lambda i: transport.placement(i) == home,
            f"pop-{home}",
            drain=transport.drain,
        )


async def play(
    transport: LocalTransport, shards: int, rounds: int
) -> tuple[list[float], list[int]]:
    """Run `rounds` rounds; the seconds of each and the number of 1s after each."""
    seconds, ones = [], []
    coordinators = [f"pop-{k}" for k in range(shards)]

    async def ask(to: str, skill: str, data: dict[str, Any]) -> dict[str, Any]:
        envelope = Envelope(
            sender="bench", recipient=to, skill=skill, message=Message.of_data(data)
        )
        return (await transport.request(envelope)).data

    for round_no in range(rounds):
        started = time.perf_counter()
        sent = await asyncio.gather(*(ask(c, "round", {"round": round_no}) for c in coordinators))
        expected = [sum(s["sent_to"].get(str(k), 0) for s in sent) for k in range(shards)]
        tallies = await asyncio.gather(
            *(ask(c, "tally", {"expected": e}) for c, e in zip(coordinators, expected, strict=True))
        )
        seconds.append(time.perf_counter() - started)
        ones.append(sum(t["ones"] for t in tallies))
    return seconds, ones


def tree_cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) used so far by this process and every process it started,
    by process: what a round costs whatever else the machine is doing (wall time is shared)."""
    import psutil

    me = psutil.Process()
    used: dict[str, float] = {}
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
            used[f"{process.name()}:{process.pid}"] = times.user + times.system
        except psutil.Error:
            continue
    return used


def cpu_since(before: dict[str, float], rounds: int) -> tuple[float, dict[str, float]]:
    """CPU seconds per round since `before`, in all and by process."""
    after = tree_cpu_seconds()
    by_process = {k: (v - before.get(k, 0.0)) / rounds for k, v in after.items()}
    return sum(by_process.values()), by_process


def tree_memory() -> tuple[int, list[tuple[str, int]]]:
    """RSS of this process and every process it started (recursively), summed."""
    import psutil

    me = psutil.Process()
    parts: list[tuple[str, int]] = []
    for process in [me, *me.children(recursive=True)]:
        try:
            parts.append((process.name(), process.memory_info().rss))
        except psutil.Error:
            continue
    return sum(rss for _, rss in parts), parts


# --- one configuration, in its own process -------------------------------------------


async def run_local(n: int, rounds: int) -> dict[str, Any]:
    before, _ = tree_memory()
    transport = LocalTransport()
    built = time.perf_counter()
    install(transport, n, lambda i: True, "pop-0")
    setup = time.perf_counter() - built
    idle, _ = tree_memory()
    cpu_before = tree_cpu_seconds()
    seconds, ones = await play(transport, 1, rounds)
    cpu, cpu_by_process = cpu_since(cpu_before, rounds)
    peak, parts = tree_memory()
    return {
        "setup_s": setup,
        "round_s": seconds,
        "cpu_s_per_round": cpu,
        "cpu_s_per_round_by_process": cpu_by_process,
        "ones": ones,
        "rss_bytes": peak,
        "rss_idle_bytes": idle,
        "bytes_per_idle_agent": (idle - before) / n,
        "processes": parts,
    }


async def run_ray(n: int, rounds: int, shards: int, max_batch: int) -> dict[str, Any]:
    import ray

    from lamas.runtime.ray_runtime import RayRuntime

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    built = time.perf_counter()
    runtime = RayRuntime.start(
        PopulationShard(n),
        shards=shards,
        pinned={f"pop-{k}": k for k in range(shards)},
        max_batch=max_batch,
    )
    setup = time.perf_counter() - built
    idle, idle_parts = tree_memory()
    try:
        transport = runtime.transport()
        cpu_before = tree_cpu_seconds()
        seconds, ones = await play(transport, shards, rounds)
        cpu, cpu_by_process = cpu_since(cpu_before, rounds)
        peak, parts = tree_memory()
        stats = await runtime.stats()
    finally:
        runtime.stop()
    return {
        "setup_s": setup,
        "round_s": seconds,
        "cpu_s_per_round": cpu,
        "cpu_s_per_round_by_process": cpu_by_process,
        "ones": ones,
        "rss_bytes": peak,
        "rss_idle_bytes": idle,
        "shard_rss_idle_bytes": sum(rss for name, rss in idle_parts if "Shard" in name),
        "agents_per_shard": runtime.agents,
        "shards": stats,
        "processes": parts,
    }


def one(kind: str, n: int, rounds: int, shards: int, max_batch: int) -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if kind == "local":
        result = asyncio.run(run_local(n, rounds))
    else:
        result = asyncio.run(run_ray(n, rounds, shards, max_batch))
    print("RESULT " + json.dumps(result))


def measure(kind: str, n: int, rounds: int, shards: int, max_batch: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", kind, "--n", str(n), "--rounds", str(rounds)]
    command += ["--shards", str(shards), "--max-batch", str(max_batch)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"the {kind} run with N={n} failed")
    return dict(json.loads(lines[-1][len("RESULT ") :]))


def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeated runs of one configuration as one: every round's time, the median CPU per
    round and setup time, the largest memory; each run kept under `repeats`."""
    return {
        "round_s": [s for run in runs for s in run["round_s"]],
        "cpu_s_per_round": statistics.median(run["cpu_s_per_round"] for run in runs),
        "setup_s": statistics.median(run["setup_s"] for run in runs),
        "rss_bytes": max(run["rss_bytes"] for run in runs),
        "bytes_per_idle_agent": max(run.get("bytes_per_idle_agent", 0.0) for run in runs),
        "shard_rss_idle_bytes": max(run.get("shard_rss_idle_bytes", 0) for run in runs),
        "ones": runs[0]["ones"],
        "repeats": runs,
    }


def check_graph(n: int = 1000) -> None:
    """Our neighbour rule is exactly the graph topology's edges (lamas.protocol.topology)."""
    from lamas.protocol.topology import TopologySpec, lay_out

    edges = tuple(
        (agent_id(i), agent_id((i + d) % n)) for i in range(n) for d in DEGREE_OFFSETS if d > 0
    )
    layout = lay_out(TopologySpec(kind="graph", edges=edges), [agent_id(i) for i in range(n)])
    for i in (0, 1, n // 2, n - 1):
        ours = {agent_id(neighbour(i, r, n)) for r in range(64)}
        assert sorted(ours) == list(layout.recipients(agent_id(i))), (i, ours)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="populations, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run")
    parser.add_argument("--shards", type=int, default=2, help="Ray shard actors")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each runtime per N")
    parser.add_argument(
        "--max-batch", type=int, default=DEFAULT_BATCH, help="envelopes per actor call at most"
    )
    parser.add_argument("--one", choices=["local", "ray"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, args.n, args.rounds, args.shards, args.max_batch)
        return 0

    check_graph()
    sizes = [int(s) for s in args.sizes.split(",")]
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "repeats": args.repeats,
        "shards": args.shards,
        "load_average_before": os.getloadavg(),
        "runs": {},
    }
    rows = []
    for n in sizes:
        # Alternate the runtimes so that the machine's load, shared with others, hits both.
        runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
        for _ in range(args.repeats):
            for kind in ("local", "ray"):
                runs[kind].append(measure(kind, n, args.rounds, args.shards, args.max_batch))
        outcomes = {json.dumps(run["ones"]) for kind in runs for run in runs[kind]}
        if len(outcomes) != 1:
            raise SystemExit(f"N={n}: the runs disagree on the game's outcome: {outcomes}")
        local, remote = merged(runs["local"]), merged(runs["ray"])
        local_s, ray_s = statistics.median(local["round_s"]), statistics.median(remote["round_s"])
        entry = {
            "local": local,
            "ray": remote,
            "local_round_s": local_s,
            "ray_round_s": ray_s,
            "local_msgs_per_s": n / local_s,
            "ray_msgs_per_s": n / ray_s,
            "throughput_ratio_ray_local": local_s / ray_s,
            "local_cpu_s_per_round": local["cpu_s_per_round"],
            "ray_cpu_s_per_round": remote["cpu_s_per_round"],
            "cpu_ratio_local_ray": local["cpu_s_per_round"] / remote["cpu_s_per_round"],
            "local_rss_gib": local["rss_bytes"] / 2**30,
            "ray_rss_gib": remote["rss_bytes"] / 2**30,
        }
        result["runs"][str(n)] = entry
        rows.append((n, entry))

    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"opinion game: {args.repeats} runs x {args.rounds} rounds of N messages, "
        "alternating runtimes (medians; RSS: the largest)"
    )
    columns = ("N", "local s/round", "ray s/round", "local msg/s", "ray msg/s", "ray/local")
    more = ("local CPU s/round", "ray CPU s/round", "local RSS GiB", "ray RSS GiB", "ray start s")
    for column in (*columns, *more):
        table.add_column(column, justify="right")
    for n, e in rows:
        table.add_row(
            f"{n:,}",
            f"{e['local_round_s']:.2f}",
            f"{e['ray_round_s']:.2f}",
            f"{e['local_msgs_per_s']:,.0f}",
            f"{e['ray_msgs_per_s']:,.0f}",
            f"{e['throughput_ratio_ray_local']:.2f}",
            f"{e['local_cpu_s_per_round']:.2f}",
            f"{e['ray_cpu_s_per_round']:.2f}",
            f"{e['local_rss_gib']:.2f}",
            f"{e['ray_rss_gib']:.2f}",
            f"{e['ray']['setup_s']:.1f}",
        )
    Console(width=160).print(table)
    if len(rows) > 1:
        first, last = rows[0][1], rows[-1][1]
        result["ratio_growth"] = (
            last["throughput_ratio_ray_local"] / first["throughput_ratio_ray_local"]
        )
        print(
            f"ray/local throughput ratio: {first['throughput_ratio_ray_local']:.2f} at "
            f"N={rows[0][0]:,}, {last['throughput_ratio_ray_local']:.2f} at N={rows[-1][0]:,}"
        )
    if len(rows) > 1:
        (n0, first), (n1, last) = rows[0], rows[-1]
        grown = last["ray"]["shard_rss_idle_bytes"] - first["ray"]["shard_rss_idle_bytes"]
        result["shard_bytes_per_idle_agent"] = grown / (n1 - n0)
        print(
            f"shard memory per idle agent (RSS growth of the shards from N={n0:,} to "
            f"N={n1:,}): {result['shard_bytes_per_idle_agent']:,.0f} bytes; "
            f"local runtime: {last['local']['bytes_per_idle_agent']:,.0f} bytes"
        )
    biggest = result["runs"].get("100000")
    checks = {}
    if biggest is not None:
        checks = {
            "ray_memory_gib_100k": biggest["ray_rss_gib"] <= TARGETS["ray_memory_gib_100k"],
            "ray_round_seconds_100k": biggest["ray_round_s"] < TARGETS["ray_round_seconds_100k"],
        }
    result["load_average_after"] = os.getloadavg()
    print(
        f"load average (1, 5, 15 min) before {result['load_average_before']}, after "
        f"{result['load_average_after']} on {os.cpu_count()} CPUs"
    )
    result["targets"] = TARGETS
    result["met"] = checks
    from _results import finish  # benchmarks/ is on the path when run as a script

    return finish("population", result, checks)


if __name__ == "__main__":
    raise SystemExit(main())
