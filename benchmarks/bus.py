"""Message-bus benchmark: lamas's LocalTransport against a plain-asyncio baseline, in one run.

(A) star fan-out: one orchestrator sends one request to each of N workers and gathers
    the replies (N = 10, 100, 1000): CPU microseconds per worker, against two plain-asyncio
    fan-outs (a queue per worker, the target's baseline; and a gathered Task per request).
(B) ring relay: a token goes round a ring of 100 agents for 100 laps: hops per CPU second.
(C) resident memory per idle agent, 10,000 agents: KiB per agent.
(D) the import a user writes, `from lamas import Network, Agent, AgentCard, Envelope,
    Message`, in a fresh interpreter, from bytecode (as installed): milliseconds, against
    `import asyncio` plus pydantic's BaseModel, the two things it cannot do without, and
    against asyncio plus one pydantic model with a `Field` (what any pydantic-typed package
    pays): the difference is lamas's own share.

The baselines are the least a bus can do: one `asyncio.Queue` and one worker task per
agent, every reply built per request. Times are CPU time of this process (the machine is
shared: other processes' load does not count against either side). Each figure is the
median of several rounds; lamas and the baselines take turns so that noise hits all.
Prints a table and writes JSON to benchmarks/results/.

Run: `python benchmarks/bus.py` (or `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _results import finish  # benchmarks/ is on the path when run as a script

from lamas.agent import Agent
from lamas.protocol import AgentCard, Context, Envelope, Message, Skill
from lamas.runtime import Network

TARGETS = {"fanout_ratio_n1000": 4.0, "ring_ratio": 0.3, "kib_per_agent": 2.0, "import_ms": 150.0}


# --- plain asyncio baseline -----------------------------------------------------------


class AsyncioBus:
    """One queue and one worker task per agent; a request carries a future for its reply."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[tuple[Any, asyncio.Future[Any] | None]]] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def add(self, name: str, handle: Callable[[Any], Awaitable[Any]]) -> None:
        queue: asyncio.Queue[tuple[Any, asyncio.Future[Any] | None]] = asyncio.Queue()
        self.queues[name] = queue

        async def worker() -> None:
            while True:
                payload, future = await queue.get()
                reply = await handle(payload)
                if future is not None:
                    future.set_result(reply)

        self.tasks.append(asyncio.get_running_loop().create_task(worker()))

    async def request(self, name: str, payload: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queues[name].put_nowait((payload, future))
        return await future

    def post(self, name: str, payload: Any) -> None:
        self.queues[name].put_nowait((payload, None))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# --- (A) star fan-out -----------------------------------------------------------------
#
# Two plain-asyncio baselines, both reported:
# - "queue": what a hand-written asyncio fan-out does: one long-lived worker per agent
#   reading its inbox queue, replies put on one reply queue the orchestrator drains.
#   No Task per request; the cheapest fair baseline, and the one the target is against.
# - "gather": one awaitable per request gathered (a Task each), as a request/response
#   API naturally reads; kept to show what the Task per request costs.
# Every handler, lamas's and both baselines', builds its reply per request.


async def fanout_asyncio_queue(n: int, rounds: int) -> float:
    replies: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    inboxes: list[asyncio.Queue[tuple[str, int]]] = [asyncio.Queue() for _ in range(n)]

    async def worker(inbox: asyncio.Queue[tuple[str, int]]) -> None:
        while True:
            _, ref = await inbox.get()
            replies.put_nowait(("done", ref))  # a new reply per request

    loop = asyncio.get_running_loop()
    workers = [loop.create_task(worker(inbox)) for inbox in inboxes]
    await asyncio.sleep(0)
    times = []
    for _ in range(rounds):
        started = time.process_time()
        for i, inbox in enumerate(inboxes):
            inbox.put_nowait(("task", i))
        for _ in range(n):
            await replies.get()
        times.append((time.process_time() - started) / n * 1e6)
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return statistics.median(times)


async def fanout_asyncio_gather(n: int, rounds: int) -> float:
    bus = AsyncioBus()

    async def answer(payload: Any) -> Any:
        return ("done", payload[1])  # a new reply per request

    for i in range(n):
        bus.add(f"w{i}", answer)
    await asyncio.sleep(0)
    times = []
    for _ in range(rounds):
        started = time.process_time()
        await asyncio.gather(*(bus.request(f"w{i}", ("task", i)) for i in range(n)))
        times.append((time.process_time() - started) / n * 1e6)
    await bus.close()
    return statistics.median(times)


def _card(agent_id: str, skill: Skill) -> AgentCard:
    return AgentCard(id=agent_id, name=agent_id, entity="bench", skills=(skill,))


SKILL = Skill(name="work", description="does the work")


async def fanout_lamas(n: int, rounds: int, *, via: str = "send") -> float:
    """lamas's fan-out: a validated Envelope per request, gathered as `send` futures (the
    fan-out path) or, with via="request", as `request` coroutines (a Task each)."""

    async def work(envelope: Envelope, context: Context) -> Message:
        return Message.of_text("done")  # a new reply per request, as a real handler builds

    network = Network(Agent(_card(f"w{i}", SKILL), work) for i in range(n))
    transport = network.transport
    ask = transport.send if via == "send" else transport.request
    body = Message.of_text("task")
    times = []
    for _ in range(rounds):
        started = time.process_time()
        await asyncio.gather(
            *(
                ask(Envelope(sender="orchestrator", recipient=f"w{i}", message=body))
                for i in range(n)
            )
        )
        times.append((time.process_time() - started) / n * 1e6)
    return statistics.median(times)


# --- (B) ring relay -------------------------------------------------------------------


async def ring_asyncio(agents: int, laps: int) -> float:
    bus = AsyncioBus()
    total = agents * laps
    done = asyncio.get_running_loop().create_future()

    for i in range(agents):
        successor = f"r{(i + 1) % agents}"

        async def relay(hops: int, successor: str = successor) -> None:
            if hops + 1 == total:
                done.set_result(None)
            else:
                bus.post(successor, hops + 1)

        bus.add(f"r{i}", relay)
    await asyncio.sleep(0)
    started = time.process_time()
    bus.post("r0", 0)
    await done
    elapsed = time.process_time() - started
    await bus.close()
    return total / elapsed


async def ring_lamas(agents: int, laps: int) -> float:
    total = agents * laps
    done = asyncio.get_running_loop().create_future()
    network = Network()
    for i in range(agents):
        me, successor = f"r{i}", f"r{(i + 1) % agents}"

        async def relay(
            envelope: Envelope, context: Context, me: str = me, successor: str = successor
        ) -> None:
            hops = envelope.message.metadata["hops"] if envelope.message.metadata else 0
            if hops + 1 == total:
                done.set_result(None)
                return
            token = Message(parts=envelope.message.parts, metadata={"hops": hops + 1})
            await context.post(
                Envelope(sender=me, recipient=successor, mode="async", message=token)
            )

        network.add(Agent(_card(me, SKILL), relay))
    started = time.process_time()
    await network.transport.post(
        Envelope(sender="bench", recipient="r0", mode="async", message=Message.of_text("token"))
    )
    await done
    return total / (time.process_time() - started)


# --- (C) memory per idle agent --------------------------------------------------------

MEMORY_PROBE = r"""
import asyncio, gc, json, sys
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
kind, n = sys.argv[1], int(sys.argv[2])
async def main():
    from lamas.agent import Agent
    from lamas.protocol import AgentCard, Message, Skill
    from lamas.runtime import Network
    skill = Skill(name="work", description="does the work")
    async def handler(envelope, context):
        return Message.of_text("ok")
    keep = []
    # Warm up allocators and lazily built validators before the first reading.
    if kind == "lamas":
        card = AgentCard(id="warm", name="warm", entity="e", skills=(skill,))
        warm = Network([Agent(card, handler)])
    gc.collect(); before = rss()
    if kind == "lamas":
        network = Network()
        for i in range(n):
            card = AgentCard(id=f"a{i}", name=f"a{i}", entity="bench", skills=(skill,))
            network.add(Agent(card, handler))
        keep.append(network)
    else:
        async def worker(q):
            while True:
                await q.get()
        for i in range(n):
            q = asyncio.Queue()
            keep.append((q, asyncio.get_running_loop().create_task(worker(q))))
        await asyncio.sleep(0)
    gc.collect(); after = rss()
    print(json.dumps({"bytes_per_agent": (after - before) / n}))
asyncio.run(main())
"""


def memory_per_agent(kind: str, n: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, kind, str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout)["bytes_per_agent"]) / 1024


# --- (D) import time ------------------------------------------------------------------


USER_IMPORT = "from lamas import Network, Agent, AgentCard, Envelope, Message"
FLOOR_IMPORT = "import asyncio; from pydantic import BaseModel"
# What any package whose wire types are pydantic models with a `Field` pays on top of that:
# building such a class loads pydantic's field machinery (pydantic.fields, pydantic.types,
# annotated_types), which `from pydantic import BaseModel` alone does not. Its schema is
# deferred to first use, as lamas's are.
MODEL_IMPORT = (
    "import asyncio; from pydantic import BaseModel, Field\n"
    "class Model(BaseModel, defer_build=True):\n    name: str = Field(min_length=1)"
)


def compile_lamas() -> None:
    """Write lamas's bytecode, as installing the package does: the import a user times runs
    from it (PYTHONDONTWRITEBYTECODE, set on some machines, would leave lamas's sources to
    be compiled on every import: ~15 ms more, timing the compiler)."""
    import compileall
    from pathlib import Path

    import lamas

    compileall.compile_dir(Path(lamas.__file__).parent, quiet=1)


def import_ms(statement: str, rounds: int) -> float:
    code = (
        f"import time; t = time.perf_counter()\n{statement}\n"
        "print((time.perf_counter() - t) * 1000)"
    )
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(rounds)
    ]
    return statistics.median(samples)


# --- driver ---------------------------------------------------------------------------


def alternate(rounds: int, *variants: Callable[[], float]) -> list[float]:
    """Median of each variant, measured in turn each round so that noise hits all."""
    samples: list[list[float]] = [[] for _ in variants]
    for _ in range(rounds):
        for run, kept in zip(variants, samples, strict=True):
            gc.collect()
            kept.append(run())
    return [statistics.median(kept) for kept in samples]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7

    rows: list[tuple[str, float, float, float, str]] = []
    result: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine()}

    for n in (10, 100, 1000):
        inner = max(3, 3000 // n)
        ours, queue, gather = alternate(
            rounds,
            lambda n=n, inner=inner: asyncio.run(fanout_lamas(n, inner)),
            lambda n=n, inner=inner: asyncio.run(fanout_asyncio_queue(n, inner)),
            lambda n=n, inner=inner: asyncio.run(fanout_asyncio_gather(n, inner)),
        )
        result[f"fanout_us_n{n}"] = ours
        result[f"fanout_asyncio_queue_us_n{n}"] = queue
        result[f"fanout_asyncio_gather_us_n{n}"] = gather
        result[f"fanout_ratio_n{n}"] = ours / queue
        result[f"fanout_ratio_gather_n{n}"] = ours / gather
        target = "<= 4x" if n == 1000 else ""
        rows.append((f"(A) fan-out N={n}, CPU us/worker", ours, queue, ours / queue, target))
        rows.append(("    vs asyncio gather (Task/request)", ours, gather, ours / gather, ""))

    ours, base = alternate(
        rounds,
        lambda: asyncio.run(ring_lamas(100, 100)),
        lambda: asyncio.run(ring_asyncio(100, 100)),
    )
    result.update(ring_hops_per_s=ours, ring_asyncio_hops_per_s=base, ring_ratio=ours / base)
    rows.append(("(B) ring 100x100 (hops/s)", ours, base, ours / base, ">= 0.3x"))

    ours_kib = statistics.median(memory_per_agent("lamas", 10_000) for _ in range(3))
    base_kib = statistics.median(memory_per_agent("asyncio", 10_000) for _ in range(3))
    result.update(kib_per_agent=ours_kib, asyncio_kib_per_agent=base_kib)
    rows.append(
        ("(C) KiB per idle agent, 10k", ours_kib, base_kib, ours_kib / base_kib, "<= 2 KiB")
    )

    compile_lamas()
    ours_ms, base_ms, model_ms = alternate(
        max(rounds, 11),
        lambda: import_ms(USER_IMPORT, 1),
        lambda: import_ms(FLOOR_IMPORT, 1),
        lambda: import_ms(MODEL_IMPORT, 1),
    )
    result.update(import_ms=ours_ms, import_asyncio_ms=base_ms, import_model_ms=model_ms)
    result["load_average_import"] = os.getloadavg()[0]
    rows.append(
        (
            "(D) user import (ms) vs asyncio+pydantic",
            ours_ms,
            base_ms,
            ours_ms / base_ms,
            "< 150 ms",
        )
    )
    rows.append(
        (
            "    vs asyncio + one pydantic model with a Field",
            ours_ms,
            model_ms,
            ours_ms / model_ms,
            "",
        )
    )
    print(
        "(D) lamas's own share of the user import: "
        f"{ours_ms - model_ms:.1f} ms beyond a one-model pydantic program"
    )

    checks = {
        "fanout_ratio_n1000": result["fanout_ratio_n1000"] <= TARGETS["fanout_ratio_n1000"],
        "ring_ratio": result["ring_ratio"] >= TARGETS["ring_ratio"],
        "kib_per_agent": result["kib_per_agent"] <= TARGETS["kib_per_agent"],
        "import_ms": result["import_ms"] < TARGETS["import_ms"],
    }
    result["targets"] = TARGETS
    result["met"] = checks

    from rich.console import Console
    from rich.table import Table

    table = Table(title="lamas LocalTransport vs plain asyncio (medians)")
    for column in ("measure", "lamas", "asyncio", "ratio", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, ours_v, base_v, ratio, target in rows:
        table.add_row(name, f"{ours_v:,.1f}", f"{base_v:,.1f}", f"{ratio:.2f}", target)
    Console().print(table)
    return finish("bus", result, checks)


if __name__ == "__main__":
    raise SystemExit(main())
