"""Commands take a task id by unique prefix, and tell "no such task" from "not settled"."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from lamas import Agent, AgentCard, Books, HashingEmbedder, Message, Network, Orchestrator, Skill
from lamas.cli.main import app
from lamas.economy.ledger import platform_ledger
from lamas.llm import ScriptedModel


def run_task(url: str, *, fail: bool) -> str:
    async def desk(envelope: object, context: object) -> Message:
        if fail:
            raise ValueError("the desk is closed")
        return Message.of_data({"hours": "9-17"})

    card = AgentCard(id="desk", name="Desk", entity="office",
                     skills=(Skill(name="hours", description="Opening hours of the town hall"),))
    orchestrator = Orchestrator(Network([Agent(card, desk)]), ScriptedModel(), HashingEmbedder())
    orchestrator.join(AgentCard(id="orchestrator", name="O", entity="platform"))
    Books(orchestrator, ledger=platform_ledger(url))
    return asyncio.run(orchestrator.submit("When is the town hall open?")).task.id


def test_a_prefix_names_the_task_and_an_unsettled_task_says_so(
    tmp_path: Path, lamas_home: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    settled = run_task(url, fail=False)
    failed = run_task(url, fail=True)
    runner = CliRunner()
    result = runner.invoke(app, ["credit", "compare", settled[:5], "--db", url])
    assert result.exit_code == 0, result.output
    assert "desk" in result.output
    result = runner.invoke(app, ["credit", "compare", failed[:8], "--db", url])
    assert result.exit_code == 2
    assert "has no outcome yet: it is failed" in " ".join(result.output.split())
    unknown = "0" * 8 if not settled.startswith("0") and not failed.startswith("0") else "f" * 8
    result = runner.invoke(app, ["credit", "compare", unknown, "--db", url])
    assert result.exit_code == 2
    assert f"no task '{unknown}'" in result.output
    result = runner.invoke(app, ["privacy", "audit", failed[:8], "--db", url])
    assert result.exit_code == 0, result.output
    assert failed in "".join(result.output.split())  # the full id, however the title wraps
