"""`lamas experience insights|distill`: the shared insight pool, and filling it from the
recorded experience (distilled, screened, verified by replay through the orchestrator)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lamas.cli._common import DbOption, fail
from lamas.cli.experience import experience_app, out
from lamas.errors import LamasError

if TYPE_CHECKING:
    from lamas.agent.embeddings import MiniLMEmbedder
    from lamas.experience.insights import InsightPool


def open_pool(
    db: str | None, capacity: int = 50, *, embedder: MiniLMEmbedder | None = None
) -> tuple[InsightPool, MiniLMEmbedder]:
    """The pool in the database at `db`, its writes guarded and signed with the
    platform's key, embedded with MiniLM (as `lamas experience` always does)."""
    from lamas.agent.admission import GuardedMemory
    from lamas.agent.embeddings import MiniLMEmbedder
    from lamas.agent.episodic import EpisodicMemory
    from lamas.agent.insight_gate import POOL_MEMORY, GuardedInsightGate, detector_screen
    from lamas.economy.ledger import platform_ledger
    from lamas.experience.insights import InsightPool

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ledger = platform_ledger(db)
    assert ledger.signer is not None
    embedder = embedder or MiniLMEmbedder()
    memory = EpisodicMemory(ledger.engine, embedder, POOL_MEMORY)
    gate = GuardedInsightGate(GuardedMemory(memory, screen=detector_screen), ledger.signer)
    pool = InsightPool(ledger.engine, embedder.embed, embedder.name, gate, capacity=capacity)
    return pool, embedder


@experience_app.command("insights")
def insights(
    db: DbOption = None,
    all_entries: Annotated[
        bool, typer.Option("--all", help="retired entries too, with why they were retired")
    ] = False,
) -> None:
    """The shared insight pool: each entry's text, capability, measured utility (gain
    over its replay baseline, then updated by use), uses, wins and status."""
    try:
        pool, _ = open_pool(db)
        entries = pool.all() if all_entries else pool.ranked()
    except LamasError as error:
        raise fail(error) from None
    if not entries:
        out.print("the insight pool is empty (fill it with `lamas experience distill`)")
        return
    table = Table(title=f"shared insights ({len(entries)} {'in all' if all_entries else 'active'})")
    for column in ("id", "capability", "utility", "baseline", "uses", "wins", "status", "text"):
        table.add_column(column, justify="right" if column in ("id", "uses", "wins") else "left")
    for e in entries:
        status = "active" if e.active else f"retired: {e.retired_why}"
        table.add_row(
            str(e.id),
            e.capability or "-",
            f"{e.utility:+.2f}",
            f"{e.baseline:.2f}",
            str(e.uses),
            str(e.wins),
            status,
            e.text,
        )
    out.print(table)


@experience_app.command("distill")
def distill(
    network: Annotated[
        Path, typer.Option("--network", help="the network file to replay source tasks on")
    ],
    db: DbOption = None,
    orchestrator: Annotated[
        str | None,
        typer.Option("--orchestrator", help="the orchestrator's card id (default: the hub)"),
    ] = None,
    min_steps: Annotated[
        int, typer.Option("--min-steps", min=1, help="steps each compared agent needs")
    ] = 5,
    min_gap: Annotated[
        float, typer.Option("--min-gap", help="success-rate gap that makes a lesson")
    ] = 0.2,
    max_tasks: Annotated[
        int, typer.Option("--max-tasks", min=1, help="source tasks replayed per candidate")
    ] = 8,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help="AGENT:SKILL:RATE, inject this fault into the replays' network (to "
            "reproduce an outage the records saw); repeatable",
        ),
    ] = None,
    today: Annotated[
        str | None, typer.Option("--today", help="the replays' date (YYYY-MM-DD)")
    ] = None,
) -> None:
    """Distil lessons from the recorded experience ("for CAPABILITY, prefer AGENT over
    AGENT") and propose each to the shared pool: screened by the memory-poisoning gate,
    then admitted only if replaying its source tasks through the orchestrator over
    NETWORK with it completes at least as many as without it."""
    from lamas.experience.sharing import share
    from lamas.experience.store import ExperienceStore
    from lamas.runtime.insights import OrchestratorReplay, netfile_build

    try:
        faults = [_fault(text) for text in fault or []]
        date = dt.date.fromisoformat(today) if today else None
    except ValueError as error:
        raise fail(error) from None
    try:
        pool, embedder = open_pool(db)
        store = ExperienceStore(pool.engine)
        build = netfile_build(
            network, embedder, orchestrator_id=orchestrator, faults=faults, today=date
        )
        replay = OrchestratorReplay(store, build, max_tasks=max_tasks)
        results = asyncio.run(share(store, pool, replay, min_steps=min_steps, min_gap=min_gap))
    except LamasError as error:
        raise fail(error) from None
    if not results:
        out.print(
            f"no lesson in the records (no capability where one agent beats another by "
            f"{min_gap:.0%} over {min_steps}+ steps each)"
        )
        return
    table = Table(title=f"distilled ({replay.runs} tasks replayed)")
    for column in ("capability", "verdict", "without", "with", "text"):
        table.add_column(column)
    for r in results:
        a = r.admission
        verdict = (
            f"[red]refused[/] {r.refused}"
            if a is None
            else ("[green]admitted[/] " if a.admitted else "[red]refused[/] ") + a.reason
        )
        table.add_row(
            r.candidate.capability,
            verdict,
            "-" if a is None else f"{a.baseline:.0%}",
            "-" if a is None else f"{a.with_insight:.0%}",
            r.candidate.text,
        )
    out.print(table)


def _fault(text: str) -> tuple[str, str, float]:
    agent, _, rest = text.partition(":")
    skill, _, rate = rest.rpartition(":")
    if not agent or not skill or not rate:
        raise ValueError(
            f"--fault wants AGENT:SKILL:RATE (swiftrail:ticket.book:0.5), not {text!r}"
        )
    return agent, skill, float(rate)
