"""`lamas run NETWORK`: run a network definition on the local runtime or on Ray.

An agent of the file without a handler is the orchestrator, built here over the
network with a model and the MiniLM router (as in `lamas demo`), and the instruction
goes to it. With `--to AGENT`, the instruction goes straight to that agent instead
(as text, or as data when it is a JSON object), and agents without a handler are not
started.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from lamas.errors import ConfigError
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.network import NetworkSpec
from lamas.protocol.tasks import TaskState
from lamas.runtime.network import Network
from lamas.runtime.runner import open_network


async def run_network(
    path: Path,
    instruction: str,
    *,
    runtime: str,
    address: str | None,
    shards: int,
    model_name: str,
    today: dt.date | None,
    to: str | None,
    skill: str | None,
    console: Console,
    answers: list[str] | None = None,
) -> bool:
    """Run the instruction (answering questions asked back with `answers`, in order);
    True if it completed."""
    from lamas.runtime.netfile import load_spec

    spec = load_spec(path)
    unhandled = [a.card.id for a in spec.agents if a.handler is None]
    if to is None and len(unhandled) != 1:
        raise ConfigError(
            f"{spec.name!r} has {len(unhandled)} agents without a handler; `lamas run` builds "
            "one orchestrator for such an agent: name one agent to ask with --to instead"
        )
    external = unhandled  # with --to they are simply not started
    async with open_network(
        path, runtime=runtime, external=external, address=address, shards=shards
    ) as (
        spec,
        network,
    ):
        where = f"{runtime}" + (f", {shards} shards" if runtime == "ray" else "")
        console.print(f"[bold]{spec.name}[/] on the {where} runtime: {instruction}")
        if to is not None:
            return await _ask_agent(network, to, skill, instruction, spec, console)
        return await _orchestrate(
            network, spec, unhandled[0], instruction, model_name, today, console, answers or []
        )


async def _ask_agent(
    network: Network, to: str, skill: str | None, text: str, spec: NetworkSpec, console: Console
) -> bool:
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    message = (
        Message.of_data(data) if isinstance(data, dict) else Message.of_text(text, role="user")
    )
    reply = await network.transport.request(
        Envelope(sender=spec.topology.entry, recipient=to, skill=skill, message=message)
    )
    shown = reply.text or json.dumps(reply.data, indent=2)
    console.print(f"[bold green]{to}:[/] {shown}")
    return True


async def _orchestrate(
    network: Network,
    spec: NetworkSpec,
    orchestrator_id: str,
    instruction: str,
    model_name: str,
    today: dt.date | None,
    console: Console,
    answers: list[str],
) -> bool:
    from lamas.agent.embeddings import MiniLMEmbedder
    from lamas.cli.demo import Narrator, _profile_fields, report
    from lamas.llm.local import LocalModel
    from lamas.runtime.orchestrator import Orchestrator
    from lamas.runtime.today import stamp_today

    narrator = Narrator(console)
    network.transport.observers.append(narrator.envelope)
    with console.status(f"loading {model_name} and the MiniLM router..."):
        orchestrator = Orchestrator(
            network,
            LocalModel(model_name),
            MiniLMEmbedder(),
            agent_id=orchestrator_id,
            today=today,
            on_event=narrator.event,
            profile_fields=_profile_fields(spec) if spec.topology.centralized else (),
            # the vendors check dates against the same today (lamas.runtime.today)
            middleware=[stamp_today(today)] if today else (),
        )
    card = next(a.card for a in spec.agents if a.card.id == orchestrator_id)
    orchestrator.join(card)
    session = await orchestrator.submit(instruction)
    pending = list(answers)
    while session.task.state is TaskState.INPUT_REQUIRED and pending:
        answer = pending.pop(0)
        console.print(f"[bold]user:[/] {answer}")
        session = await orchestrator.answer(session.task.id, answer)
    if session.task.status_message is not None:
        console.print(f"[bold green]answer:[/]\n{session.task.status_message.text}")
    report(console, session, narrator)
    return session.task.state is TaskState.COMPLETED
