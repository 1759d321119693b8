"""`lamas demo travel|music`: the paper's two case studies, end to end, shown as they happen.

The network comes from `examples/<name>/network.yaml`; the orchestrator is built
over it with the embedded model and the MiniLM router. What is printed: the
routed clauses and the plan, every envelope (who -> whom, which skill), each
consensus decision, any question asked back, the final answer, and the tokens
and time used.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from lamas.economy.ledger import platform_ledger
from lamas.errors import ConfigError
from lamas.experience.store import ExperienceStore
from lamas.protocol.messages import Envelope
from lamas.protocol.tasks import TaskState
from lamas.runtime.experience_hook import ExperienceRecorder
from lamas.runtime.ledger_hook import LedgerRecorder
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.privacy_hook import guard_from_network
from lamas.runtime.session import Event, Session
from lamas.runtime.today import stamp_today

DEFAULT_INSTRUCTIONS = {
    "travel": (
        "Book me a train from Paris to Lyon on December 4 in the morning, "
        "and a hotel near Lyon Part-Dieu for two nights"
    ),
    "music": "Play some relaxing jazz",
}
ORCHESTRATOR_IDS = {"travel": "orchestrator", "music": "music-orchestrator"}


def examples_dir() -> Path:
    """`$LAMAS_EXAMPLES`, else the `examples/` folder of this checkout."""
    configured = os.environ.get("LAMAS_EXAMPLES")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "examples"


class Narrator:
    """Prints the orchestrator's events and the transport's envelopes as they happen."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.perf_counter()

    def _at(self) -> str:
        return f"[dim]{time.perf_counter() - self.started:6.1f}s[/]"

    def envelope(self, envelope: Envelope) -> None:
        what = envelope.skill or envelope.kind
        self.console.print(
            f"{self._at()} [cyan]{envelope.sender}[/] -> [magenta]{envelope.recipient}[/] "
            f"[bold]{what}[/] ({envelope.mode}, priority {envelope.priority})"
        )

    def event(self, event: Event) -> None:
        data = event.data
        if event.kind == "routed" and "clauses" in data:
            for text, capability, score in data["clauses"]:
                self.console.print(f"{self._at()} clause {text!r} -> {capability} ({score:.2f})")
        elif event.kind == "filling":
            self.console.print(
                f"{self._at()} filling the inputs of {data['step']} with {data['model']}..."
            )
        elif event.kind == "plan":
            tree = Tree("[bold]plan[/]")
            for layer, steps in enumerate(data["plan"].layers(), start=1):
                branch = tree.add(f"layer {layer} (in parallel)")
                for step in steps:
                    after = f" after {', '.join(step.depends_on)}" if step.depends_on else ""
                    branch.add(f"{step.id}: {step.capability}{after}")
            self.console.print(tree)
        elif event.kind == "consensus":
            decision = data["decision"]
            tally = ", ".join(f"{k}: {v:g}" for k, v in decision.tally.items())
            how = (
                "fallback vote"
                if decision.fallback
                else ("reached" if decision.reached else "not reached")
            )
            self.console.print(
                f"{self._at()} [yellow]consensus[/] on {data['step']} by {decision.rule}: "
                f"{decision.winner} ({how}; support {decision.support:.2f} vs threshold "
                f"{decision.threshold:.2f}; {decision.rounds} round(s); {tally})"
            )
        elif event.kind == "step":
            run = data["run"]
            state = "[red]failed[/]" if run.error else "[green]done[/]"
            self.console.print(
                f"{self._at()} step {run.step.id} {state} by {run.agent} in {run.seconds:.1f}s"
                + (f": {run.error}" if run.error else "")
            )
        elif event.kind == "question":
            self.console.print(f"{self._at()} [bold yellow]question:[/] {data['question']}")
        elif event.kind == "failed":
            self.console.print(f"{self._at()} [bold red]failed:[/] {data['reason']}")


def report(console: Console, session: Session, narrator: Narrator) -> None:
    if session.task.state is TaskState.COMPLETED:
        table = Table(title="result")
        for column in ("step", "agent", "output"):
            table.add_column(column)
        for step_id, run in session.runs.items():
            shown = {k: v for k, v in run.output.items() if not isinstance(v, list | dict)}
            table.add_row(step_id, run.agent or "-", json.dumps(shown)[:160])
        console.print(table)
    used = session.usage
    console.print(
        f"[bold]{session.task.state.value}[/] in {session.seconds:.1f}s; "
        f"model: {used.calls} calls, "
        f"{used.prompt_tokens} prompt + {used.completion_tokens} completion tokens "
        f"({used.seconds:.1f}s)"
    )


async def run_demo(
    name: str,
    instruction: str | None,
    *,
    model_name: str,
    answers: list[str],
    today: dt.date | None,
    console: Console,
    interactive: bool = True,
    dashboard_port: int | None = None,
    insights: bool = False,
) -> Session:
    """Run a case study; with `dashboard_port`, the dashboard serves its ledger on that port
    from before the task starts (watch it on the Live page) and goes on after it ends."""
    from lamas.agent.embeddings import MiniLMEmbedder
    from lamas.llm.local import LocalModel
    from lamas.runtime.netfile import load

    if name not in ORCHESTRATOR_IDS:
        raise ConfigError(f"no demo {name!r}; choose one of {', '.join(ORCHESTRATOR_IDS)}")
    folder = examples_dir() / name
    orchestrator_id = ORCHESTRATOR_IDS[name]
    spec, network = load(folder / "network.yaml", external=[orchestrator_id])
    narrator = Narrator(console)
    # Decentralized: the orchestrator's privacy guard, from the vault's fingerprints, checks
    # everything it receives and sends for the user's data (it handles sealed refs only).
    guard = (
        None if spec.topology.centralized else await guard_from_network(network, orchestrator_id)
    )
    network.transport.observers.append(narrator.envelope)
    with console.status(f"loading {model_name} and the MiniLM router..."):
        model = LocalModel(model_name)
        embedder = MiniLMEmbedder()
        # With `insights`, the shared pool's admitted lessons steer agent choice and are
        # notes in the slot-filling prompt (`lamas experience distill` fills the pool).
        use = _insight_use(embedder) if insights else None
        orchestrator = Orchestrator(
            network,
            model,
            embedder,
            agent_id=orchestrator_id,
            today=today,
            on_event=narrator.event,
            profile_fields=_profile_fields(spec) if spec.topology.centralized else (),
            middleware=[
                *([stamp_today(today)] if today else ()),
                *([guard.middleware(outbound=True)] if guard else ()),
            ],
            selector=use,
            notes=use.notes if use is not None else None,
        )
        card = next(a.card for a in spec.agents if a.card.id == orchestrator_id)
        orchestrator.join(card, middleware=[guard.middleware()] if guard else ())
        # The user typed the instruction into their own demo: the ledger may keep it.
        recorder = LedgerRecorder(platform_ledger(), orchestrator, record_instruction=True)
        # Every step also leaves an experience record (`lamas experience show`).
        experience = ExperienceRecorder(
            ExperienceStore(recorder.ledger.engine), orchestrator, ledger=recorder
        )
        if use is not None:
            experience.on_record.append(use.observe)  # each use's outcome, to the pool
    if dashboard_port is not None:
        open_dashboard(console, recorder.ledger, dashboard_port, folder / "network.yaml")
    text = instruction or DEFAULT_INSTRUCTIONS[name]
    console.print(
        f"[bold]{spec.name}[/] ({spec.topology.kind}, "
        f"{'centralized' if spec.topology.centralized else 'decentralized'}): {text}"
    )
    narrator.started = time.perf_counter()
    session = await orchestrator.submit(text)
    pending = list(answers)
    while session.task.state is TaskState.INPUT_REQUIRED:
        answer = pending.pop(0) if pending else (_ask(console) if interactive else "")
        if not answer:
            break
        console.print(f"[bold]user:[/] {answer}")
        session = await orchestrator.answer(session.task.id, answer)
    if session.task.status_message is not None:
        console.print(f"[bold green]answer:[/]\n{session.task.status_message.text}")
    report(console, session, narrator)
    recorder.flush()
    if guard is not None:
        console.print(
            f"privacy: the orchestrator's guard checked {guard.checked} envelopes and rejected "
            f"{len(guard.rejected)}; it only ever held sealed refs to the user's data"
        )
    console.print(f"[dim]who read the user's data: `lamas privacy audit {session.task.id}`[/]")
    settlement = recorder.settlements.get(session.task.id)
    if settlement is not None:
        what_if = await counterfactual_shares(orchestrator, recorder, session, settlement)
        show_settlement(console, settlement, recorder, what_if)
    return session


async def counterfactual_shares(
    orchestrator: Orchestrator, recorder: Any, session: Session, settlement: Any
) -> dict[str, float]:
    """Shapley over the replayed task (what each agent could have done), for comparison."""
    from lamas.economy.revenue import PLATFORM
    from lamas.protocol.credit import shapley
    from lamas.runtime.counterfactual import MAX_PLAYERS, counterfactual_values

    players = settlement.game.players
    if len(players) > MAX_PLAYERS:
        return {}
    platform = [c.id for c in orchestrator.network.cards if c.entity == PLATFORM]
    values = await counterfactual_values(
        orchestrator.network,
        session,
        orchestrator.skills,
        players,
        sender=orchestrator.agent_id,
        platform=[p for p in platform if p != orchestrator.agent_id],
        commission=recorder.commission,
        flat_fee=recorder.flat_fee,
    )
    return shapley(players, lambda coalition: values[coalition])


def show_settlement(
    console: Console, settlement: Any, recorder: Any, what_if: dict[str, float] | None = None
) -> None:
    """Each agent's Shapley credit and each entity's payout for the task; `what_if` is the
    credit by replaying the task without each coalition (counterfactual)."""
    game = settlement.game
    console.print(
        f"[bold]settlement[/]: value {game.total} {recorder.currency} "
        f"({', '.join(f'{c.label} {c.value}' for c in game.components)}); "
        f"platform fee {settlement.split.platform_fee}"
    )
    table = Table(title="credit (Shapley) and payouts")
    columns = ["agent", "entity", "credit", "credit (what-if)", "payout"]
    for column in columns if what_if else [c for c in columns if "what-if" not in c]:
        table.add_column(column, justify="left" if column in ("agent", "entity") else "right")
    for agent, share in sorted(settlement.shares.items(), key=lambda kv: -kv[1]):
        cells = [agent, recorder.owner(agent), f"{share:.2f}"]
        if what_if:
            cells.append(f"{what_if.get(agent, 0.0):.2f}")
        table.add_row(*cells, str(settlement.split.by_agent.get(agent, "0.00")))
    table.add_row(
        "(platform fee)",
        "platform",
        *([""] * (2 if what_if else 1)),
        str(settlement.split.platform_fee),
    )
    console.print(table)
    console.print("[dim]the ledger: `lamas ledger show --task ...`, `lamas ledger verify`[/]")


def open_dashboard(console: Console, ledger: Any, port: int, network_file: Path) -> Any:
    """Serve the dashboard over `ledger` on a thread, and open it in a browser if there is
    a display (a text browser in this terminal would stall the demo)."""
    import sys
    import webbrowser

    from lamas.dashboard.server import DashboardServer

    server = DashboardServer(ledger, port=port, networks=[network_file])
    server.start()
    console.print(f"[bold]dashboard[/] on {server.url}/live")
    if os.environ.get("DISPLAY") or sys.platform in ("darwin", "win32"):
        webbrowser.open(f"{server.url}/live")
    return server


def _insight_use(embedder: Any) -> Any:
    from lamas.cli.insights import open_pool
    from lamas.runtime.insights import InsightUse

    pool, _ = open_pool(None, embedder=embedder)
    return InsightUse.of_pool(pool)


def _profile_fields(spec: Any) -> tuple[str, ...]:
    """The personal agent's fields a centralized orchestrator reads for itself."""
    for agent in spec.agents:
        if agent.card.vault_fields and agent.card.entity == "user":
            return tuple(agent.card.vault_fields)
    return ()


def _ask(console: Console) -> str:
    try:
        return console.input("[bold]your answer>[/] ").strip()
    except EOFError:
        return ""
