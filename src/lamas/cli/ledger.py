"""`lamas ledger ...`: check the ledger's chain, read its entries, make a writer's key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from lamas.cli._common import DbOption, err, fail, open_ledger
from lamas.errors import LamasError
from lamas.store.prefix import resolve_task

if TYPE_CHECKING:
    from lamas.protocol.ledger import LedgerEntry
    from lamas.protocol.ledger_verify import ChainHead

ledger_app = typer.Typer(
    help="The ledger: verify its hash chain and signatures, show entries, make signing keys.",
    no_args_is_help=True,
)

out = Console()


@ledger_app.command("verify")
def verify(
    db: DbOption = None,
    keys: Annotated[
        list[Path] | None,
        typer.Option(
            "--keys",
            help="trust only these public keys (PEM files, or directories of *.pub); "
            "default: the keys the writers recorded in the database",
        ),
    ] = None,
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH of a head recorded earlier; the chain must still reach it"),
    ] = None,
) -> None:
    """Check every entry's hash, link and signature; name the first bad entry (exit 1)."""
    from sqlalchemy.exc import SQLAlchemyError

    from lamas.security.identity import KeyRing
    from lamas.store.errors import store_error

    try:
        pinned = _anchor(anchor) if anchor else None
        ledger = open_ledger(db)
        ring = KeyRing.load(*keys) if keys else None
        ledger.keyring = ring
        with err.status("verifying...") as status:
            report = ledger.verify(
                anchor=pinned, progress=lambda n: status.update(f"verifying... {n:,} entries")
            )
    except LamasError as error:
        raise fail(error) from None
    except SQLAlchemyError as error:
        raise fail(store_error(error, "the ledger")) from None
    trusted = f"{len(ring)} key(s) given" if ring else "keys recorded in the database"
    if report.problem is not None:
        out.print(f"[bold red]ledger BROKEN[/] at {report.problem}")
        out.print(f"[dim]entries before {report.problem.sequence} verify; trusted: {trusted}[/]")
        raise typer.Exit(code=1)
    head = f"head {report.head.sequence} {report.head.hash}" if report.head else "empty"
    out.print(
        f"[bold green]ledger ok[/]: {report.entries:,} entries, {report.signatures:,} "
        f"signatures, {head} ({report.seconds:.2f} s)"
    )
    out.print(f"[dim]trusted: {trusted}[/]")


def _anchor(text: str) -> ChainHead:
    from lamas.protocol.ledger import LedgerInputError
    from lamas.protocol.ledger_verify import ChainHead

    sequence, _, digest = text.partition(":")
    if not sequence.isdigit() or len(digest) != 64:
        raise LedgerInputError(f"--anchor must be SEQ:HASH (a 64-digit hex hash), got {text!r}")
    return ChainHead(int(sequence), digest.lower())


@ledger_app.command("show")
def show(
    db: DbOption = None,
    task: Annotated[
        str | None, typer.Option(help="only this task's entries (any unique prefix of its id)")
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="only entries of this kind, e.g. outcome")
    ] = None,
    after: Annotated[int, typer.Option(min=0, help="start after this sequence number")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="at most this many entries")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """List entries, oldest first."""
    try:
        ledger = open_ledger(db)
        if task is not None:
            task = resolve_task(ledger.engine, task)
        entries = list(ledger.entries(task_id=task, kind=kind, after=after, limit=limit))
    except LamasError as error:
        raise fail(error) from None
    if as_json:
        for entry in entries:
            print(entry.model_dump_json())
        return
    table = Table(title=f"ledger: {len(entries)} entries" + (f" of task {task}" if task else ""))
    for column in ("seq", "at", "kind", "task", "agent / entity", "payload", "signed by"):
        table.add_column(column, justify="right" if column == "seq" else "left")
    for entry in entries:
        table.add_row(
            str(entry.sequence),
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.kind.value,
            entry.task_id,
            " / ".join(p for p in (entry.agent, entry.entity) if p) or "-",
            _summary(entry),
            entry.signer[:8] + (" signed" if entry.signature else ""),
        )
    out.print(table)


def _summary(entry: LedgerEntry) -> str:
    """One short line per entry, by kind (`--json` shows everything)."""
    from lamas.protocol.ledger import (
        CreditAllocated,
        MessageSent,
        Outcome,
        Payout,
        StepAssigned,
        StepDone,
        TaskOpened,
        TaskStatus,
    )

    try:
        body = entry.body()
    except LamasError:
        return "(not a valid payload; see --json)"
    if isinstance(body, TaskOpened):
        text = body.instruction
    elif isinstance(body, StepAssigned):
        text = f"{body.step_id}: {body.capability}"
    elif isinstance(body, StepDone):
        used = body.resources
        text = (
            f"{body.step_id}{'' if body.ok else ' FAILED'}: {used.prompt_tokens}+"
            f"{used.completion_tokens} tokens, {used.tool_calls} tools, {used.seconds:.2f} s"
        )
    elif isinstance(body, Outcome):
        units = f" x{body.units}" if body.units is not None else ""
        text = f"{body.value} {body.currency} {body.basis.value}{units}"
    elif isinstance(body, CreditAllocated):
        text = f"{body.amount} {body.currency} by {body.rule}"
    elif isinstance(body, Payout):
        text = f"{body.amount} {body.currency} {body.reference}".rstrip()
    elif isinstance(body, MessageSent):
        text = f"{body.sender} -> {body.recipient} {body.skill or body.kind} ({body.mode})"
    elif isinstance(body, TaskStatus):
        text = f"{body.state}: {body.message}".rstrip(": ")
    else:  # pragma: no cover - every kind has a branch above
        text = json.dumps(entry.payload)
    return text if len(text) <= 60 else text[:57] + "..."


@ledger_app.command("keygen")
def keygen(
    path: Annotated[Path, typer.Argument(help="where to write the private key (PEM, mode 0600)")],
) -> None:
    """Make an Ed25519 signing key: PATH (private) and PATH.pub (public). Never overwrites."""
    from lamas.security.identity import PUBLIC_SUFFIX, PrivateKey

    public_path = path.with_name(path.name + PUBLIC_SUFFIX)
    try:
        key = PrivateKey.generate()
        for existing in (path, public_path):  # checked first: no half-made pair is left
            if existing.exists():
                raise fail(RuntimeError(f"{existing} exists; refusing to overwrite a key"))
        key.save(path)
        key.public.save(public_path)
    except LamasError as error:
        raise fail(error) from None
    out.print(f"signer id {key.id}")
    out.print(f"private key: {path} (keep it secret)\npublic key:  {public_path}")
