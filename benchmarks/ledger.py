"""Ledger benchmark: append throughput and verification time, against raw baselines, in one run.

(A) append, batched: `append_many` of 1,000 entries per transaction: entries/s.
    Baseline: sqlite3 `executemany` of the same rows, precomputed (no validation, hashing or
    signing), 1,000 per transaction, same pragmas (WAL, synchronous=FULL).
(B) append, unbatched: `append`, one transaction (and one signature) per entry: entries/s.
    Baseline: sqlite3 one INSERT and COMMIT per row.
(C) verify 1M entries: `Ledger.verify()` over a ledger written with `append_many` in batches
    of 10,000: seconds (in parallel on every core; one core shown too). Baseline: the least a
    verifier can do on one core: read the rows with sqlite3, recompute each hash and check
    each link, no signatures.
(D) for scale: verify of the per-entry-signed ledger of (B): microseconds per entry. One
    Ed25519 check per entry is what batch signing saves (see lamas.protocol.ledger).
(E) group commit (`Ledger.writer()`), the same durability (each append acknowledged only
    after its transaction committed with synchronous=FULL):
    (E1) the batches of (A) submitted without waiting for each commit (checking the next
         batch overlaps writing the last): entries/s;
    (E2) 1,000 asyncio tasks each appending 20 entries ONE at a time, each awaiting its own
         commit: entries/s. Baseline for both: (A)'s raw sqlite3 figure.
Every figure comes with the load average when it was taken and the CPU seconds it used:
on a shared machine the wall-clock figure moves with the others' load.

All on one SQLite file per measure, in a temporary directory. Prints a table and writes
JSON to benchmarks/results/.

Run: `python benchmarks/ledger.py` (`--entries 100000` for a quicker, extrapolated run).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from _results import finish  # benchmarks/ is on the path when run as a script
from rich.console import Console
from rich.table import Table

from lamas.economy import GroupWriter, Ledger, NewEntry
from lamas.protocol.ledger import GENESIS, content_bytes, draft, format_time
from lamas.security import PrivateKey
from lamas.store import create_engine

TARGETS = {"append_batched_per_s": 20_000.0, "verify_1m_seconds": 10.0}
MILLION = 1_000_000
console = Console()


def workload(start: int, count: int) -> list[NewEntry]:
    """A realistic mix: every task opens, assigns and finishes two steps, earns, credits, pays."""
    entries = []
    for n in range(start, start + count):
        task, step = f"task-{n // 8:07d}", n % 8
        agent = ("hotel-agent", "train-agent")[step % 2]
        if step == 0:
            entries.append(NewEntry("task.opened", task, {"instruction": "train to Lyon + hotel"}))
        elif step in (1, 2):
            entries.append(
                NewEntry(
                    "step.assigned", task, {"step_id": f"s{step}", "capability": "book"}, agent
                )
            )
        elif step in (3, 4):
            used = {"prompt_tokens": 812, "completion_tokens": 96, "tool_calls": 2, "seconds": 1.25}
            entries.append(
                NewEntry("step.done", task, {"step_id": f"s{step - 2}", "resources": used}, agent)
            )
        elif step == 5:
            value = {"value": "42.00", "currency": "EUR", "basis": "cpa", "units": 1}
            entries.append(NewEntry("outcome", task, value))
        elif step == 6:
            entries.append(
                NewEntry("credit.allocated", task, {"amount": "25.20", "currency": "EUR"}, agent)
            )
        else:
            entries.append(
                NewEntry("payout", task, {"amount": "25.20", "currency": "EUR"}, entity="hotels-sa")
            )
    return entries


def new_ledger(folder: Path, name: str, key: PrivateKey) -> Ledger:
    return Ledger(create_engine(f"sqlite:///{folder / name}"), key)


# --- raw sqlite3 baselines ------------------------------------------------------------------

SCHEMA = """CREATE TABLE ledger_entries (sequence INTEGER PRIMARY KEY, kind VARCHAR(32) NOT NULL,
    task_id VARCHAR(128) NOT NULL, agent VARCHAR(128), entity VARCHAR(128), payload TEXT NOT NULL,
    at VARCHAR(32) NOT NULL, signer VARCHAR(64) NOT NULL, prev_hash VARCHAR(64) NOT NULL,
    hash VARCHAR(64) NOT NULL, signature VARCHAR(128));
CREATE INDEX ix_task ON ledger_entries (task_id, sequence);
CREATE INDEX ix_kind ON ledger_entries (kind, sequence);"""


def raw_rows(entries: list[NewEntry], first: int) -> list[tuple[Any, ...]]:
    """The rows the ledger would write, computed up front (outside the timed part)."""
    at, prev, rows = format_time(datetime.now(UTC)), GENESIS, []
    for sequence, new in enumerate(entries, start=first):
        checked = draft(new.kind, new.task_id, new.agent, new.entity, new.payload)
        kind, payload = checked.kind.value, checked.payload_json
        digest = hashlib.sha256(
            content_bytes(
                sequence, kind, new.task_id, new.agent, new.entity, payload, at, "k", prev
            )
        ).hexdigest()
        rows.append(
            (
                sequence,
                kind,
                new.task_id,
                new.agent,
                new.entity,
                payload,
                at,
                "k",
                prev,
                digest,
                None,
            )
        )
        prev = digest
    return rows


def raw_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


def raw_insert(db: sqlite3.Connection, rows: list[tuple[Any, ...]], per_transaction: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), per_transaction):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            f"INSERT INTO ledger_entries VALUES ({','.join('?' * 11)})",
            rows[i : i + per_transaction],
        )
        db.execute("COMMIT")
    return len(rows) / (time.perf_counter() - started)


def raw_chain_check(path: Path) -> float:
    """Seconds to recompute every hash and link, reading with sqlite3; no signatures."""
    db = sqlite3.connect(path)
    started = time.perf_counter()
    cursor = db.execute(
        "SELECT sequence, kind, task_id, agent, entity, payload, at, signer, prev_hash, hash "
        "FROM ledger_entries ORDER BY sequence"
    )
    sha256, last, last_hash = hashlib.sha256, 0, GENESIS
    while rows := cursor.fetchmany(20_000):
        for seq, kind, task, agent, entity, payload, at, signer, prev, digest in rows:
            content = content_bytes(seq, kind, task, agent, entity, payload, at, signer, prev)
            if seq != last + 1 or prev != last_hash or sha256(content).hexdigest() != digest:
                raise SystemExit(f"baseline found a bad entry at {seq}")
            last, last_hash = seq, digest
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


# --- the measures ---------------------------------------------------------------------------


def append_batched(folder: Path, key: PrivateKey, rounds: int) -> tuple[float, float, float]:
    """Entries/s of lamas and of raw sqlite3 (wall clock), and lamas's entries per CPU second
    (what the machine's other load does not change)."""
    batches = [workload(i * 1000, 1000) for i in range(20)]
    ours, base, cpu = [], [], []
    for r in range(rounds):
        ledger = new_ledger(folder, f"batched-{r}.db", key)
        ledger.append_many(batches[0])  # warm up: tables, validators, the signer's key row
        started, cpu_started = time.perf_counter(), time.process_time()
        for batch in batches[1:]:
            ledger.append_many(batch)
        ours.append(1000 * (len(batches) - 1) / (time.perf_counter() - started))
        cpu.append(1000 * (len(batches) - 1) / (time.process_time() - cpu_started))
        ledger.engine.dispose()
        rows = raw_rows([e for b in batches[1:] for e in b], 1)
        db = raw_db(folder / f"raw-batched-{r}.db")
        base.append(raw_insert(db, rows, 1000))
        db.close()
    return statistics.median(ours), statistics.median(base), statistics.median(cpu)


def append_unbatched(folder: Path, key: PrivateKey, count: int) -> tuple[float, float, Ledger]:
    entries = workload(0, count)
    ledger = new_ledger(folder, "unbatched.db", key)
    ledger.append_many(entries[:1])
    started = time.perf_counter()
    for new in entries[1:]:
        ledger.append(
            new.kind, task_id=new.task_id, payload=new.payload, agent=new.agent, entity=new.entity
        )
    ours = (count - 1) / (time.perf_counter() - started)
    db = raw_db(folder / "raw-unbatched.db")
    base = raw_insert(db, raw_rows(entries[1:], 1), 1)
    db.close()
    return ours, base, ledger


def group_pipelined(folder: Path, key: PrivateKey, rounds: int) -> tuple[float, float]:
    """(E1): entries/s (wall) and per CPU second, the median of `rounds`."""
    batches = [workload(i * 1000, 1000) for i in range(20)]
    ours, cpu = [], []
    for r in range(rounds):
        ledger = new_ledger(folder, f"pipelined-{r}.db", key)
        ledger.append_many(batches[0])
        with ledger.writer() as writer:
            started, cpu_started = time.perf_counter(), time.process_time()
            futures = [writer.submit(batch) for batch in batches[1:]]
            for future in futures:
                future.result()
            ours.append(1000 * (len(batches) - 1) / (time.perf_counter() - started))
            cpu.append(1000 * (len(batches) - 1) / (time.process_time() - cpu_started))
        ledger.engine.dispose()
    return statistics.median(ours), statistics.median(cpu)


def group_single(
    folder: Path, key: PrivateKey, tasks: int, each: int
) -> tuple[float, float, float]:
    """(E2): entries/s (wall) and per CPU second, and entries per transaction."""
    ledger = new_ledger(folder, "group-single.db", key)
    ledger.append_many(workload(0, 8))
    entries = workload(8, tasks * each)

    async def run(writer: GroupWriter) -> None:
        async def task(n: int) -> None:
            for new in entries[n * each : (n + 1) * each]:
                await writer.append_async(
                    new.kind,
                    task_id=new.task_id,
                    payload=new.payload,
                    agent=new.agent,
                    entity=new.entity,
                )

        await asyncio.gather(*(task(n) for n in range(tasks)))

    with ledger.writer() as writer:
        started, cpu_started = time.perf_counter(), time.process_time()
        asyncio.run(run(writer))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    report = ledger.verify()
    if not report.ok or report.entries != 8 + tasks * each:
        raise SystemExit(f"group commit lost entries: {report}")
    ledger.engine.dispose()
    return len(entries) / seconds, len(entries) / cpu, len(entries) / writer.transactions


def build(folder: Path, key: PrivateKey, total: int, batch: int) -> tuple[Ledger, float]:
    ledger = new_ledger(folder, "verify.db", key)
    started = time.perf_counter()
    report_every = max(total // 10, batch)
    for start in range(0, total, batch):
        ledger.append_many(workload(start, min(batch, total - start)))
        done = start + batch
        if done % report_every == 0 or done >= total:
            rate = min(done, total) / (time.perf_counter() - started)
            console.print(f"[dim]  written {min(done, total):>9,} entries ({rate:,.0f}/s)[/]")
    return ledger, total / (time.perf_counter() - started)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (parallel verify's workers)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=MILLION, help="ledger size for (C)")
    parser.add_argument("--unbatched", type=int, default=2000, help="appends for (B)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (A); the median counts")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the databases")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="lamas-ledger-bench-", dir=args.dir))
    key = PrivateKey.generate()
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "sqlite": sqlite3.sqlite_version,
    }
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        console.print("(A) batched appends...")
        ours, base, cpu = append_batched(folder, key, args.rounds)
        result.update(
            append_batched_per_s=ours, append_batched_raw_per_s=base, append_batched_per_cpu_s=cpu
        )
        rows.append(
            (
                "(A) append_many x1000 (entries/s)",
                f"{ours:,.0f}",
                f"{base:,.0f}",
                f"{ours / base:.2f}",
                ">= 20,000/s",
            )
        )

        result["append_batched_load"] = os.getloadavg()[0]
        rows.append(
            (
                f"    lamas, entries per CPU second (load {result['append_batched_load']:.1f})",
                f"{cpu:,.0f}",
                "",
                "",
                "",
            )
        )
        raw_batched = base

        console.print("(E) group commit...")
        pipelined, pipelined_cpu = group_pipelined(folder, key, args.rounds)
        single, single_cpu, per_group = group_single(folder, key, 1000, 20)
        result.update(
            append_group_pipelined_per_s=pipelined,
            append_group_pipelined_per_cpu_s=pipelined_cpu,
            append_group_single_per_s=single,
            append_group_single_per_cpu_s=single_cpu,
            append_group_single_entries_per_transaction=per_group,
            append_group_load=os.getloadavg()[0],
        )
        rows.append(
            (
                "(E1) group commit, batches pipelined (entries/s)",
                f"{pipelined:,.0f}",
                f"{raw_batched:,.0f}",
                f"{pipelined / raw_batched:.2f}",
                ">= 20,000/s",
            )
        )
        rows.append(("    per CPU second", f"{pipelined_cpu:,.0f}", "", "", ""))
        rows.append(
            (
                "(E2) group commit, 1,000 tasks x 20 single appends",
                f"{single:,.0f}",
                f"{raw_batched:,.0f}",
                f"{single / raw_batched:.2f}",
                ">= 20,000/s",
            )
        )
        rows.append(
            (
                f"    per CPU second ({per_group:,.0f} per transaction)",
                f"{single_cpu:,.0f}",
                "",
                "",
                "",
            )
        )

        console.print("(B) unbatched appends...")
        ours, base, unbatched = append_unbatched(folder, key, args.unbatched)
        result.update(append_unbatched_per_s=ours, append_unbatched_raw_per_s=base)
        rows.append(
            (
                "(B) append, 1 per transaction (entries/s)",
                f"{ours:,.0f}",
                f"{base:,.0f}",
                f"{ours / base:.2f}",
                "",
            )
        )

        console.print(f"(C) writing {args.entries:,} entries in batches of 10,000...")
        ledger, rate = build(folder, key, args.entries, 10_000)
        result["generate_per_s"] = rate
        console.print(f"    verifying (in parallel, {os.cpu_count()} cores)...")
        load, cpu_started = os.getloadavg()[0], _cpu()
        seconds, report = timed(ledger.verify)
        result.update(verify_load=load, verify_cpu_seconds=_cpu() - cpu_started)
        if not report.ok:
            raise SystemExit(f"verify failed: {report}")
        one_core, _ = timed(partial(ledger.verify, workers=1))
        result["verify_one_core_1m_seconds"] = one_core * MILLION / args.entries
        base_seconds = raw_chain_check(folder / "verify.db")
        scale = MILLION / args.entries
        result.update(
            verify_entries=report.entries,
            verify_signatures=report.signatures,
            verify_seconds=seconds,
            verify_raw_chain_seconds=base_seconds,
            verify_1m_seconds=seconds * scale,
            verify_1m_extrapolated=args.entries != MILLION,
        )
        label = "1M" if args.entries == MILLION else f"{args.entries:,} (x{scale:g} = 1M)"
        rows.append(
            (
                f"(C) verify {label} (s)",
                f"{seconds * scale:.2f}",
                f"{base_seconds * scale:.2f}",
                f"{seconds / base_seconds:.2f}",
                "< 10 s",
            )
        )

        rows.append(
            (
                f"    CPU seconds, both cores (load {load:.1f})",
                f"{result['verify_cpu_seconds'] * scale:.2f}",
                "",
                "",
                "",
            )
        )
        rows.append(
            (
                "    lamas on one core (s)",
                f"{one_core * scale:.2f}",
                "",
                f"{one_core / base_seconds:.2f}",
                "",
            )
        )

        console.print("(D) verifying the per-entry-signed ledger of (B)...")
        seconds_d, report_d = timed(unbatched.verify)
        per_entry = seconds_d / report_d.entries * 1e6
        result.update(
            verify_signed_each_us_per_entry=per_entry,
            verify_signed_each_1m_seconds=per_entry,  # us per entry = s per million
            verify_batched_us_per_entry=seconds / report.entries * 1e6,
        )
        rows.append(
            ("(D) verify, every entry signed (us/entry)", f"{per_entry:.1f}", "", "", "for scale")
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    checks = {
        "append_batched_per_s": result["append_batched_per_s"] >= TARGETS["append_batched_per_s"],
        "append_group_pipelined_per_s": result["append_group_pipelined_per_s"]
        >= TARGETS["append_batched_per_s"],
        "append_group_single_per_s": result["append_group_single_per_s"]
        >= TARGETS["append_batched_per_s"],
        "verify_1m_seconds": result["verify_1m_seconds"] < TARGETS["verify_1m_seconds"],
    }
    result["targets"], result["met"] = TARGETS, checks

    table = Table(
        title="lamas ledger on SQLite vs raw sqlite3 (baseline: no validation, hashing or signing)"
    )
    for column in ("measure", "lamas", "baseline", "ratio", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(
        f"{report.entries:,} entries verified with {report.signatures:,} signatures "
        f"(one per batch); written at {result['generate_per_s']:,.0f} entries/s"
    )
    return finish("ledger", result, checks)


if __name__ == "__main__":
    raise SystemExit(main())
