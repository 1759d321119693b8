"""`lamas ask URL TEXT`: ask any A2A agent, show its task's updates as they stream in.

The command a user (or a load test: hundreds at once) starts for one question, so it
imports only what it needs: typer and rich, the A2A client and the exit codes; not the
rest of the command line (`lamas.cli.app`: the ledger, the server, the models), which
once made each `lamas ask` cost ~1.1 s of CPU and ~100 MiB before it sent a byte.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lamas.errors import LamasError

err = Console(stderr=True)
out = Console()


def ask(
    url: Annotated[str, typer.Argument(help="the A2A agent's URL (its card is read first)")],
    text: Annotated[str, typer.Argument(help="what to ask, as plain text")],
    answer: Annotated[
        list[str] | None,
        typer.Option(help="answer to a question the agent asks back (repeatable, in order)"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the task to end")] = 300.0,
) -> None:
    """Ask any A2A agent something and show its task's updates as they stream in; when it
    asks back (input-required), the next --answer continues the same task. Exits 0 only
    when the task completed (1 failed, 3 canceled, 4 waiting for an answer, 69
    unreachable, 75 busy: retry later; see docs/fault-tolerance.md)."""
    from lamas.cli import exitcodes
    from lamas.errors import AgentUnreachable, DeadlineExceeded

    try:
        state, words = asyncio.run(_ask(url, text, list(answer or []), timeout))
    except (AgentUnreachable, DeadlineExceeded) as error:
        busy = "503" in str(error) or "busy" in str(error).casefold()
        err.print(f"[bold red]{'busy' if busy else 'error'}:[/] {escape(str(error))}")
        raise typer.Exit(code=exitcodes.BUSY if busy else exitcodes.UNREACHABLE) from None
    except LamasError as error:
        if "busy, retry" in str(error):  # the agent refused for load: nothing started
            err.print(f"[bold red]busy:[/] {escape(str(error))}")
            raise typer.Exit(code=exitcodes.BUSY) from None
        err.print(f"[bold red]error:[/] {escape(str(error))}")
        raise typer.Exit(code=2) from None
    code = exitcodes.exit_code(state)
    if state == "rejected" and "busy, retry after" in words:  # refused for load, not started
        code = exitcodes.BUSY
    if code:
        raise typer.Exit(code=code)


async def _ask(url: str, text: str, answers: list[str], timeout: float) -> tuple[str | None, str]:
    """The task's last state seen (a `TaskState` value, None if the stream gave none) and
    the words of its last status."""
    import secrets

    from a2a.helpers.proto_helpers import new_text_message
    from a2a.types import Role
    from a2a.types import TaskState as A2AState

    from lamas.interop.client import A2AConnector

    connector = A2AConnector(timeout=timeout)
    # The task capability (interop/guard.py): this caller's tasks, and no one else's, are
    # the ones it can continue and read; made here, so the first request already holds it.
    capability = {"X-Lamas-Capability": secrets.token_urlsafe(32)}
    try:
        card = await connector.fetch_card(url)
        out.print(f"[bold]{escape(card.name)}[/] at {escape(url)}", highlight=False)
        message = new_text_message(text, role=Role.ROLE_USER)
        last: str | None = None
        said = ""
        while True:
            waiting = None
            async for event in connector.stream(url, message, timeout=timeout, headers=capability):
                if event.HasField("status_update"):
                    status = event.status_update.status
                    words = " ".join(p.text for p in status.message.parts if p.HasField("text"))
                    state = A2AState.Name(status.state).removeprefix("TASK_STATE_").lower()
                    last, said = state.replace("_", "-"), words
                    out.print(f"[cyan]{state}[/] {escape(words)}", highlight=False)
                    if status.state == A2AState.TASK_STATE_INPUT_REQUIRED:
                        waiting = event.status_update
                elif event.HasField("artifact_update"):
                    artifact = event.artifact_update.artifact
                    out.print(f"[magenta]artifact[/] {escape(artifact.name)}", highlight=False)
                    for data in _data_parts(artifact.parts):
                        if "task_id" in data:  # a lamas orchestrator's reply: its ledger task
                            out.print(f"task {escape(str(data['task_id']))}", highlight=False)
                elif event.HasField("message"):
                    words = " ".join(p.text for p in event.message.parts if p.HasField("text"))
                    out.print(escape(words), highlight=False)
            if waiting is None or not answers:
                return last, said
            reply = answers.pop(0)
            out.print(f"[bold]answer:[/] {escape(reply)}", highlight=False)
            message = new_text_message(
                reply, role=Role.ROLE_USER, task_id=waiting.task_id, context_id=waiting.context_id
            )
    finally:
        await connector.close()


def _data_parts(parts: Any) -> list[dict[str, Any]]:
    """The data parts of A2A parts, as plain dicts."""
    from google.protobuf.json_format import MessageToDict

    found = []
    for part in parts:
        if part.HasField("data"):
            data = MessageToDict(part.data)
            if isinstance(data, dict):
                found.append(data)
    return found


def ask_alone(args: list[str]) -> None:
    """`lamas ask ARGS` without loading the rest of the command line."""
    typer.main.get_command(_alone)(args=args, prog_name="lamas ask")


_alone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
_alone.command()(ask)
