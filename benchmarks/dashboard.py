"""Dashboard benchmark: every page over real HTTP on a ledger of 100,000 entries.

The ledger (a SQLite file) holds one task of 50 steps (a DAG in five branches, each step
with its messages, every tenth settled by a three-round vote, credit for ten agents) and
enough ordinary travel-sized tasks, plus a batch of ad traffic, to reach 100,000 entries.
The dashboard is served by uvicorn on 127.0.0.1 and each page is fetched with httpx; the
baseline is a bare Starlette app returning a short text, served and fetched the same way
in the same run. Reported: the first page after start (it reads the whole ledger into
the index), then the median and 90th percentile of each page with the index warm.

Target: every page's median under one second.

Run: `python benchmarks/dashboard.py` (or `make bench-dashboard`); `--entries` to change
the ledger's size, `--quick` for fewer rounds.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from _results import finish  # benchmarks/ is on the path when run as a script

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 1000.0
BIG_TASK = "task-50-steps"
AGENTS = [f"agent-{i}" for i in range(10)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build_ledger(path: Path, entries: int) -> Any:
    from lamas.economy.attribution import Journey, Touch, record_traffic
    from lamas.economy.ledger import Ledger, NewEntry
    from lamas.security.identity import PrivateKey
    from lamas.store import create_engine

    ledger = Ledger(create_engine(f"sqlite:///{path}"), PrivateKey.generate())
    ledger.append_many(big_task())
    journeys = [
        Journey(
            f"j{i}",
            (Touch(AGENTS[i % 10], "impression", 1), Touch(AGENTS[(i + 3) % 10], "click", 2)),
            converted=i % 4 == 0,
            value=Decimal("50.00") if i % 4 == 0 else Decimal(0),
        )
        for i in range(200)
    ]
    record_traffic(ledger, journeys, batch="ads-bench")
    batch: list[NewEntry] = []
    number = 0
    written = ledger.head()
    assert written is not None
    done = written.sequence
    while done + len(batch) < entries:
        batch += small_task(number)
        number += 1
        if len(batch) >= 5000:
            done += len(ledger.append_many(batch))
            batch = []
    ledger.append_many(batch[: entries - done])  # the last task may be cut short
    return ledger


def big_task() -> list[Any]:
    """One task of 50 steps: five branches of ten, each step after the one before it."""
    from lamas.economy.ledger import NewEntry
    from lamas.protocol.ledger import EntryKind

    steps = [
        {
            "id": f"s{i:02d}",
            "capability": f"cap.{i % 7}",
            "depends_on": [f"s{i - 5:02d}"] if i >= 5 else [],
        }
        for i in range(50)
    ]
    out = [
        NewEntry(
            EntryKind.TASK_OPENED,
            BIG_TASK,
            {"instruction": "a task of fifty steps", "steps": steps},
            "orchestrator",
            "platform",
        )
    ]
    at = 1_800_000_000.0
    for i, step in enumerate(steps):
        agent = AGENTS[i % 10]
        for hop, (sender, recipient, skill) in enumerate(
            [("orchestrator", agent, step["capability"]), (agent, "logger", "log.record")]
        ):
            out.append(
                NewEntry(
                    EntryKind.MESSAGE,
                    BIG_TASK,
                    {
                        "id": f"m{i}-{hop}",
                        "sender": sender,
                        "recipient": recipient,
                        "skill": skill,
                        "sent_at": at + i + hop / 10,
                        "mode": "sync" if hop == 0 else "async",
                    },
                    sender,
                )
            )
        consensus = None
        if i % 10 == 0:
            ballots = [
                {"voter": v, "choice": f"{agent}:offer", "ranking": [f"{agent}:offer"]}
                for v in AGENTS[:5]
            ]
            consensus = {
                "rule": "majority",
                "winner": f"{agent}:offer",
                "support": 1.0,
                "threshold": 0.75,
                "reached": True,
                "tally": {f"{agent}:offer": 5.0},
                "rounds": [ballots, ballots, ballots],
            }
        out.append(
            NewEntry(
                EntryKind.STEP_ASSIGNED,
                BIG_TASK,
                {"step_id": step["id"], "capability": step["capability"]},
                agent,
                f"entity-{i % 5}",
            )
        )
        out.append(
            NewEntry(
                EntryKind.STEP_DONE,
                BIG_TASK,
                {"step_id": step["id"], "consensus": consensus},
                agent,
                f"entity-{i % 5}",
            )
        )
    components = [
        {"label": f"part{b}", "value": "10.00", "needs": [[AGENTS[b]], [AGENTS[b + 5]]]}
        for b in range(5)
    ]
    out.append(
        NewEntry(
            EntryKind.OUTCOME,
            BIG_TASK,
            {"value": "50.00", "currency": "EUR", "basis": "cpa", "components": components},
        )
    )
    out += [
        NewEntry(
            EntryKind.CREDIT_ALLOCATED,
            BIG_TASK,
            {"amount": "5.00", "currency": "EUR", "outcome": 1},
            agent,
            f"entity-{i % 5}",
        )
        for i, agent in enumerate(AGENTS)
    ]
    out += [
        NewEntry(
            EntryKind.PAYOUT, BIG_TASK, {"amount": "10.00", "currency": "EUR"}, None, f"entity-{e}"
        )
        for e in range(5)
    ]
    out.append(NewEntry(EntryKind.TASK_STATUS, BIG_TASK, {"state": "completed"}, "orchestrator"))
    return out


def small_task(number: int) -> list[Any]:
    """A travel-sized task: 4 steps, 8 messages, an outcome, credit and payouts (27 entries)."""
    from lamas.economy.ledger import NewEntry
    from lamas.protocol.ledger import EntryKind

    task = f"task-{number:06d}"
    agents = [AGENTS[(number + k) % 10] for k in range(4)]
    steps = [{"id": f"s{k}", "capability": f"cap.{k}"} for k in range(4)]
    out = [
        NewEntry(
            EntryKind.TASK_OPENED,
            task,
            {"instruction": f"book trip number {number}", "steps": steps},
            "orchestrator",
            "platform",
        )
    ]
    for k, agent in enumerate(agents):
        for hop in range(2):
            message = {
                "id": f"{task}-{k}-{hop}",
                "sender": "orchestrator" if hop == 0 else agent,
                "recipient": agent if hop == 0 else "logger",
                "skill": f"cap.{k}",
                "sent_at": 1_800_000_000.0 + number + k,
            }
            out.append(NewEntry(EntryKind.MESSAGE, task, message, message["sender"]))
        out.append(
            NewEntry(
                EntryKind.STEP_ASSIGNED, task, {"step_id": f"s{k}", "capability": f"cap.{k}"}, agent
            )
        )
        out.append(NewEntry(EntryKind.STEP_DONE, task, {"step_id": f"s{k}"}, agent, f"entity-{k}"))
    out.append(NewEntry(EntryKind.TASK_STATUS, task, {"state": "completed"}, "orchestrator"))
    out.append(
        NewEntry(EntryKind.OUTCOME, task, {"value": "4.00", "currency": "EUR", "basis": "cpa"})
    )
    out += [
        NewEntry(
            EntryKind.CREDIT_ALLOCATED,
            task,
            {"amount": "0.80", "currency": "EUR"},
            agent,
            f"entity-{k}",
        )
        for k, agent in enumerate(agents)
    ]
    out += [
        NewEntry(EntryKind.PAYOUT, task, {"amount": "0.80", "currency": "EUR"}, None, f"entity-{k}")
        for k in range(4)
    ]
    return out


class Serving:
    """A uvicorn server for `app` on a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", hello)])


def timed(client: Any, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000, help="ledger size")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    rounds = 5 if args.quick else 15

    import httpx

    from lamas.dashboard.app import create_app
    from lamas.economy.ledger import Ledger
    from lamas.store import create_engine

    folder = Path(tempfile.mkdtemp(prefix="lamas-bench-dashboard-"))
    started = time.perf_counter()
    build_ledger(folder / "ledger.db", args.entries)
    build_s = time.perf_counter() - started
    reader = Ledger(create_engine(f"sqlite:///{folder / 'ledger.db'}"))
    head = reader.head()
    assert head is not None
    print(f"ledger of {head.sequence:,} entries built in {build_s:.1f} s ({folder})")
    result: dict[str, Any] = {"entries": head.sequence, "build_s": build_s, "pages": {}}

    app = create_app(reader, networks=[ROOT / "examples" / "travel" / "network.yaml"])
    started = time.perf_counter()
    dashboard = Serving(app)  # reads the whole ledger into its index before it listens
    startup_ms = (time.perf_counter() - started) * 1000
    result["startup_ms"] = startup_ms
    bare = Serving(bare_app())
    base = f"http://127.0.0.1:{dashboard.port}"
    pages = {
        "tasks": "/tasks",
        "tasks search": "/tasks?q=trip+number+1234",
        "task (50 steps)": f"/tasks/{BIG_TASK}",
        "agent": "/agents/agent-3",
        "network": "/network",
        "economy": "/economy",
        "live": "/live",
        "api/tasks (JSON)": "/api/tasks",
    }
    with httpx.Client(timeout=60) as client:
        first_ms = timed(client, f"{base}/tasks")
        result["first_page_ms"] = first_ms
        # The Economy page's traffic report (read_traffic) is cached until traffic entries
        # are added: its first render reads every outcome.
        economy_cold_ms = timed(client, f"{base}/economy")
        result["economy_cold_ms"] = economy_cold_ms
        bare_times = [timed(client, f"http://127.0.0.1:{bare.port}/") for _ in range(rounds)]
        times: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(rounds):
            for name, path in pages.items():  # interleaved: noise hits every page alike
                times[name].append(timed(client, base + path))
        sizes = {name: len(client.get(base + path).content) for name, path in pages.items()}
    dashboard.stop()
    bare.stop()

    bare_ms = statistics.median(bare_times)
    result["bare_starlette_ms"] = bare_ms
    rows = []
    checks = {}
    for name, values in times.items():
        median = statistics.median(values)
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        result["pages"][name] = {"median_ms": median, "p90_ms": p90, "bytes": sizes[name]}
        checks[f"{name} median < 1 s"] = median < TARGET_MS
        rows.append((name, median, p90, median / bare_ms, sizes[name]))
    checks["economy first render < 1 s"] = economy_cold_ms < TARGET_MS

    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"dashboard pages on a ledger of {head.sequence:,} entries "
        f"(median of {rounds}, ms; baseline: bare Starlette {bare_ms:.2f} ms)"
    )
    for column in ("page", "median", "p90", "x bare", "bytes", "target"):
        table.add_column(column, justify="left" if column == "page" else "right")
    table.add_row("server start (reads the ledger)", f"{startup_ms:,.1f}", "", "", "", "")
    table.add_row("first page after start", f"{first_ms:,.1f}", "", "", "", "")
    table.add_row("economy, first render (read_traffic)", f"{economy_cold_ms:,.1f}", "", "", "", "")
    for name, median, p90, ratio, size in rows:
        table.add_row(name, f"{median:,.1f}", f"{p90:,.1f}", f"{ratio:,.1f}", f"{size:,}", "< 1000")
    Console().print(table)
    result["targets"] = {"page_median_ms": TARGET_MS}
    result["met"] = checks
    return finish("dashboard", result, checks)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    raise SystemExit(main())
