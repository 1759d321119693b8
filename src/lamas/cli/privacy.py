"""`lamas privacy ...`: who read which of the user's data and why; vault keys; private sums."""

from __future__ import annotations

import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from lamas.cli._common import DbOption, fail, open_ledger
from lamas.errors import LamasError

if TYPE_CHECKING:
    from lamas.protocol.ledger import LedgerEntry

privacy_app = typer.Typer(
    help="Privacy: audit who read the user's data for a task, make vault keys, and sum "
    "private figures under encryption or secret sharing.",
    no_args_is_help=True,
)

out = Console()

ACCESS = {"vault.granted": "granted", "vault.read": "read", "vault.refused": "REFUSED"}


@privacy_app.command("audit")
def audit(
    task_id: Annotated[
        str, typer.Argument(help="the task, as `lamas demo` prints it (any unique prefix)")
    ],
    db: DbOption = None,
) -> None:
    """Who was granted, read or refused which of the user's fields for TASK_ID, and why;
    and whether the orchestrator itself handled any (a centralized architecture)."""
    from lamas.store.prefix import resolve_task

    ledger = open_ledger(db)
    try:
        task_id = resolve_task(ledger.engine, task_id)
    except LamasError as error:
        raise fail(error) from None
    entries = list(ledger.entries(task_id=task_id))
    if not entries:
        raise fail(LookupError(f"the ledger has no entries for task {task_id!r}"))
    opened = next((e for e in entries if e.kind.value == "task.opened"), None)
    orchestrator = opened.agent if opened is not None else None
    access = [e for e in entries if e.kind.value in ACCESS]
    table = Table(title=f"access to the user's data for task {task_id}")
    for column in ("seq", "at", "event", "agent", "fields", "why", "grant / asked by"):
        table.add_column(column)
    for entry in access:
        body = entry.payload
        why = body.get("reason") or body.get("purpose") or ""
        asked = " / ".join(x for x in (body.get("grant_id"), body.get("by")) if x) or "-"
        event = ACCESS[entry.kind.value]
        table.add_row(
            str(entry.sequence),
            entry.at.strftime("%H:%M:%S"),
            f"[red]{event}[/]" if event == "REFUSED" else event,
            entry.agent or "-",
            ", ".join(body.get("fields", ())),
            why,
            asked,
        )
    out.print(table)
    _verdict(access, orchestrator)


def _verdict(access: list[LedgerEntry], orchestrator: str | None) -> None:
    read: dict[str, set[str]] = defaultdict(set)
    for entry in access:
        if entry.kind.value == "vault.read" and entry.agent:
            read[entry.agent].update(entry.payload.get("fields", ()))
    for agent, fields in read.items():
        out.print(f"{agent} read: {', '.join(sorted(fields))}")
    if not access:
        out.print("no agent read any of the user's data for this task")
    if orchestrator is None:
        return
    if orchestrator in read:
        out.print(
            f"[bold yellow]centralized[/]: the orchestrator ({orchestrator}) itself read the "
            f"user's {', '.join(sorted(read[orchestrator]))}"
        )
    else:
        out.print(
            f"[bold green]decentralized[/]: the orchestrator ({orchestrator}) read none of the "
            "user's data; each agent read only what its step was granted"
        )


@privacy_app.command("keygen")
def keygen(
    file: Annotated[
        Path | None,
        typer.Option(help="where to write it (default: $LAMAS_VAULT_KEY_FILE or the key file)"),
    ] = None,
    show: Annotated[
        bool, typer.Option("--print", help="print the key (for $LAMAS_VAULT_KEY) instead")
    ] = False,
) -> None:
    """Make a vault key: 32 random bytes as URL-safe base64, in a file only you can read."""
    import os

    from lamas.privacy.keys import KEY_FILE_ENV, default_key_file, new_key, save_key

    key = new_key()
    if show:
        out.print(key.text)
        return
    path = file or Path(os.environ.get(KEY_FILE_ENV) or default_key_file())
    try:
        save_key(key, path)
    except LamasError as error:
        raise fail(error) from None
    out.print(f"wrote a new vault key to {path}")


@privacy_app.command("revenue")
def revenue(
    db: DbOption = None,
    bits: Annotated[int, typer.Option(help="Paillier key size")] = 2048,
) -> None:
    """Each entity's revenue (its payouts in the ledger) summed without anyone seeing the
    others': under Paillier encryption (the platform adds ciphertexts; only the auditor's
    key decrypts the total) and by additive secret sharing among the entities."""
    from lamas.privacy.paillier import Aggregator, KeyHolder, Reporter
    from lamas.privacy.sharing import joint_sum

    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entry in open_ledger(db).entries(kind="payout"):
        currency = str(entry.payload["currency"])
        totals[(entry.entity or "?", currency)] += Decimal(str(entry.payload["amount"]))
    if not totals:
        raise fail(LookupError("the ledger has no payouts yet; run `lamas demo travel` first"))
    for currency in sorted({c for _, c in totals}):
        figures = {e: v for (e, c), v in totals.items() if c == currency}
        started = time.perf_counter()
        auditor = KeyHolder(bits)  # the only holder of the private key
        keyed = time.perf_counter()
        reports = [Reporter(auditor.public_key).encrypt(e, v) for e, v in figures.items()]
        encrypted = time.perf_counter()
        total = Aggregator(auditor.public_key).add(reports)  # the platform: public key only
        added = time.perf_counter()
        revealed = auditor.decrypt(total)
        done = time.perf_counter()
        table = Table(title=f"revenue by entity ({currency}), as each entity reports it")
        table.add_column("entity")
        table.add_column("what the platform receives (Paillier ciphertext)")
        for report in reports:
            table.add_row(report.label, report.ciphertext[:48] + "...")
        out.print(table)
        exact = sum(figures.values(), Decimal(0))
        out.print(
            f"Paillier ({bits}-bit): total {revealed} {currency} "
            f"({'exact' if revealed == exact else f'MISMATCH, ledger says {exact}'}); "
            f"key {keyed - started:.2f}s, encrypt {encrypted - keyed:.3f}s, "
            f"add {added - encrypted:.4f}s, decrypt {done - added:.3f}s"
        )
        if len(figures) >= 2:
            shared = joint_sum(figures)
            out.print(
                f"secret sharing among {shared.parties} entities: total {shared.total} "
                f"{currency}, mean {shared.mean:.2f} (each published only a uniform partial sum)"
            )
