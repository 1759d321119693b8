"""`lamas experience ...`: read the step records, their patterns, and export training sets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from lamas.cli._common import DbOption, fail, open_engine
from lamas.errors import LamasError

if TYPE_CHECKING:
    from lamas.experience.store import ExperienceStore
    from lamas.protocol.experience import ExperienceRecord

experience_app = typer.Typer(
    help="Experience records of every step (who served it, how, outcome, cost, credit): "
    "show them, their patterns, and export SFT/DPO training sets.",
    no_args_is_help=True,
)

out = Console()

AgentOption = Annotated[str | None, typer.Option("--agent", help="only this agent's steps")]
CapabilityOption = Annotated[
    str | None, typer.Option("--capability", help="only steps of this capability")
]


def _open(url: str | None) -> ExperienceStore:
    from lamas.experience.store import ExperienceStore

    return ExperienceStore(open_engine(url))


def _records(
    db: str | None, agent: str | None, capability: str | None, **more: object
) -> list[ExperienceRecord]:
    from lamas.store.experience_tables import experience_records
    from lamas.store.prefix import resolve_prefix

    try:
        store = _open(db)
        if agent is not None:
            agent = resolve_prefix(store.engine, experience_records.c.agent, agent, "agent")
        if more.get("task_id") is not None:
            more["task_id"] = resolve_prefix(
                store.engine, experience_records.c.task_id, str(more["task_id"]), "task"
            )
        return store.records(agent=agent, capability=capability, **more)  # type: ignore[arg-type]
    except LamasError as error:
        raise fail(error) from None


@experience_app.command("show")
def show(
    db: DbOption = None,
    task: Annotated[str | None, typer.Option("--task", help="only this task's steps")] = None,
    agent: AgentOption = None,
    capability: CapabilityOption = None,
    failed: Annotated[bool, typer.Option("--failed", help="only failed steps")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="newest N steps")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON record a line")] = False,
) -> None:
    """The newest step records: task, step, agent, strategy, outcome, cost and credit."""
    records = _records(
        db,
        agent,
        capability,
        task_id=task,
        ok=False if failed else None,
        limit=limit,
        newest_first=True,
    )
    if as_json:
        for record in records:
            print(record.model_dump_json())
        return
    if not records:
        out.print("no experience recorded yet (run `lamas demo travel`, or widen the filters)")
        return
    table = Table(title=f"experience ({len(records)} newest steps)")
    for column in ("task", "step", "agent", "strategy", "outcome", "s", "cost", "credit"):
        table.add_column(column, justify="right" if column in ("s", "cost", "credit") else "left")
    for r in records:
        outcome = "[green]ok[/]" if r.outcome.ok else f"[red]failed[/] {r.outcome.error or ''}"[:80]
        if r.outcome.feedback is not None:
            outcome += f" (feedback {r.outcome.feedback:+.1f})"
        table.add_row(
            r.task_id[:12],
            f"{r.step_id} {r.capability}",
            r.agent,
            r.strategy.key,
            outcome,
            f"{r.resources.seconds:.2f}",
            str(r.resources.cost),
            "-" if r.credit is None else str(r.credit),
        )
    out.print(table)


@experience_app.command("stats")
def stats(
    db: DbOption = None,
    by: Annotated[
        str, typer.Option("--by", help="group by 'capability' or 'agent'")
    ] = "capability",
    periods: Annotated[
        int, typer.Option("--periods", min=1, help="time buckets, to see a trend")
    ] = 1,
    agent: AgentOption = None,
    capability: CapabilityOption = None,
    clusters: Annotated[
        bool,
        typer.Option(
            "--clusters/--no-clusters",
            help="cluster failed steps' errors by meaning (loads the MiniLM embedder)",
        ),
    ] = False,
) -> None:
    """Patterns: success rate, cost, latency and credit per capability or agent over
    time; which strategies work for which kinds of instruction; failure clusters."""
    from lamas.experience.patterns import failure_clusters, performance, strategy_fit

    if by not in ("capability", "agent"):
        raise fail(ValueError(f"--by must be 'capability' or 'agent', not {by!r}"))
    records = _records(db, agent, capability)
    if not records:
        out.print("no experience recorded yet")
        return
    table = Table(title=f"performance by {by}")
    for column in (by, "period", "steps", "success", "mean cost", "mean s", "credit"):
        table.add_column(column, justify="left" if column == by else "right")
    for p in performance(records, by=by, periods=periods):  # type: ignore[arg-type]
        table.add_row(
            p.key,
            str(p.period),
            str(p.steps),
            f"{p.success_rate:.0%}",
            f"{p.mean_cost:.4f}",
            f"{p.mean_seconds:.2f}",
            f"{p.credit:.2f}",
        )
    out.print(table)
    fits = Table(title="strategy fit by instruction kind")
    for column in ("kind", "strategy", "steps", "success"):
        fits.add_column(column)
    for f in strategy_fit(records):
        fits.add_row(f.kind, f.strategy, str(f.steps), f"{f.success_rate:.0%}")
    out.print(fits)
    if clusters:
        from lamas.agent.embeddings import MiniLMEmbedder

        found = failure_clusters(records, MiniLMEmbedder().embed)
        grouped = Table(title="failure clusters")
        for column in ("count", "agents", "capabilities", "example"):
            grouped.add_column(column)
        for c in found:
            grouped.add_row(str(c.count), ", ".join(c.agents), ", ".join(c.capabilities), c.example)
        out.print(grouped if found else "no failed steps")


@experience_app.command("export")
def export(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="the JSONL file to write")],
    format: Annotated[
        str, typer.Option("--format", help="sft (chat examples) or dpo (preference pairs)")
    ] = "sft",
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help="what the model learns to write: 'inputs' (slot filling) or 'output' "
            "(the serving agent's reply)",
        ),
    ] = "inputs",
    db: DbOption = None,
    agent: AgentOption = None,
    capability: CapabilityOption = None,
) -> None:
    """Write a training set in chat-format JSONL, each line checked against its JSON
    Schema (`lamas experience schema sft|dpo`); see docs/training.md for the recipe."""
    from lamas.experience.training import export as write

    records = _records(db, agent, capability)
    try:
        count = write(records, out_path, format=format, target=target)  # type: ignore[arg-type]
    except LamasError as error:
        raise fail(error) from None
    out.print(f"wrote {count} {format} lines from {len(records)} step records to {out_path}")


@experience_app.command("schema")
def schema(
    format: Annotated[str, typer.Argument(help="sft or dpo")],
) -> None:
    """Print the JSON Schema one line of an export follows."""
    import json

    from lamas.protocol.experience import DPO_SCHEMA, SFT_SCHEMA

    schemas = {"sft": SFT_SCHEMA, "dpo": DPO_SCHEMA}
    if format not in schemas:
        raise fail(ValueError(f"no schema {format!r}; choose sft or dpo"))
    print(json.dumps(schemas[format], indent=2))


@experience_app.command("feedback")
def feedback(
    task: Annotated[
        str, typer.Argument(help="the task id or a unique prefix (see `lamas experience show`)")
    ],
    score: Annotated[float, typer.Argument(help="-1 (bad) to 1 (good)")],
    note: Annotated[str | None, typer.Option("--note", help="what was good or bad")] = None,
    db: DbOption = None,
) -> None:
    """Record the user's verdict on a task, on each of its steps' records."""
    from lamas.store.experience_tables import experience_records
    from lamas.store.prefix import resolve_prefix

    try:
        store = _open(db)
        task = resolve_prefix(store.engine, experience_records.c.task_id, task, "task")
        count = store.set_feedback(task, score, note)
    except LamasError as error:
        raise fail(error) from None
    out.print(f"feedback {score:+.1f} recorded on {count} steps of {task}")
