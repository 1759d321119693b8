"""The same network file on the local runtime and on Ray: the travel case study, and
`lamas run --runtime ray`.

Slot filling uses the scripted model and routing the real MiniLM embedder (as in
tests/examples/test_case_studies.py); the agents of the file run in two Ray shard
processes, built there from the file itself, the orchestrator in this process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.casestudy import TRAVEL as INSTRUCTION
from support.casestudy import scripted_slots
from typer.testing import CliRunner

from lamas.agent.embeddings import MiniLMEmbedder
from lamas.cli.main import app
from lamas.errors import ConfigError
from lamas.llm import ScriptedModel
from lamas.protocol import TaskState
from lamas.runtime import Network
from lamas.runtime.netfile import load_spec
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.runner import open_network
from lamas.runtime.session import Session
from lamas.runtime.today import stamp_today

ray = pytest.importorskip("ray", reason="the Ray runtime needs `pip install lamas[ray]`")

from lamas.runtime.ray_runtime import connect  # noqa: E402
from lamas.runtime.ray_transport import RayTransport  # noqa: E402

pytestmark = pytest.mark.ray

TRAVEL = Path(__file__).resolve().parents[2] / "examples" / "travel" / "network.yaml"


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    connect()
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return MiniLMEmbedder()


async def book(network: Network, embedder: MiniLMEmbedder) -> Session:
    orchestrator = Orchestrator(
        network,
        ScriptedModel(responder=scripted_slots),
        embedder,
        agent_id="orchestrator",
        today=dt.date(2026, 11, 25),
        middleware=[stamp_today(dt.date(2026, 11, 25))],  # the vendors' today too
    )
    assert network.defences is not None
    card = next(a.card for a in load_spec(TRAVEL).agents if a.card.id == "orchestrator")
    orchestrator.join(card)
    return await orchestrator.submit(INSTRUCTION)


def outcome(session: Session) -> dict[str, Any]:
    """What the task did, without what is random per run (booking references)."""
    assert session.plan is not None
    return {
        "state": session.task.state,
        "plan": [(s.id, s.capability, s.depends_on) for s in session.plan.steps],
        "runs": {
            step: (
                run.agent,
                run.inputs,
                {k: v for k, v in run.output.items() if k != "booking_id"},
                run.decision.winner if run.decision else None,
            )
            for step, run in session.runs.items()
        },
    }


async def test_the_travel_network_books_the_same_trip_on_ray_as_locally(
    ray_session: None, embedder: MiniLMEmbedder
) -> None:
    async with open_network(TRAVEL, runtime="local", external=["orchestrator"]) as (_, network):
        local = outcome(await book(network, embedder))
    async with open_network(TRAVEL, runtime="ray", external=["orchestrator"]) as (_, network):
        transport = network.transport
        assert isinstance(transport, RayTransport)
        remote = outcome(await book(network, embedder))
        shards = await asyncio_gather_stats(transport)
    assert local["state"] is TaskState.COMPLETED
    assert remote == local
    # The agents really ran in two other processes, and talked between them.
    assert sorted(s["agents"] for s in shards) == [3, 3]
    assert len({s["pid"] for s in shards} | {os.getpid()}) == 3
    assert sum(s["batches_sent"] for s in shards) > 0  # vendors asked personal / logger
    assert transport.batches_sent > 0


async def asyncio_gather_stats(transport: RayTransport) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(peer.stats.remote() for peer in transport.peers)))


def test_lamas_run_asks_an_agent_on_either_runtime(ray_session: None) -> None:
    for runtime in ("local", "ray"):
        result = CliRunner().invoke(
            app,
            [
                "run",
                str(TRAVEL),
                '{"event": "test", "data": {}}',
                "--runtime",
                runtime,
                "--to",
                "logger",
                "--skill",
                "log.record",
            ],
            env={"COLUMNS": "200"},
        )
        assert result.exit_code == 0, result.output
        assert f"travel on the {runtime}" in result.output
        assert '"seq": 1' in result.output


def test_lamas_run_refuses_what_it_cannot_run(ray_session: None) -> None:
    result = CliRunner().invoke(
        app, ["run", str(TRAVEL), "hi", "--runtime", "spark"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "no runtime 'spark'; choose one of local, ray" in " ".join(result.output.split())
    result = CliRunner().invoke(
        app, ["run", str(TRAVEL), "hi", "--address", "10.0.0.1:6379"], env={"COLUMNS": "200"}
    )
    assert "use it with --runtime ray" in " ".join(result.output.split())


async def test_open_network_refuses_what_the_file_does_not_have(ray_session: None) -> None:
    with pytest.raises(ConfigError, match="no agents nobody to leave out"):
        async with open_network(TRAVEL, runtime="ray", external=["nobody"]):
            pass


async def test_the_task_settles_to_the_cent_on_ray_as_locally(
    ray_session: None, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    """On Ray the vendors call the personal agent shard to shard, out of the orchestrator's
    sight; the settlement must still be the local one (issue 19)."""
    from support.casestudy import settle_with_a_fresh_recorder, settlement_figures

    figures = {}
    for runtime in ("local", "ray"):
        async with open_network(TRAVEL, runtime=runtime, external=["orchestrator"]) as (_, net):
            orchestrator = Orchestrator(
                net,
                ScriptedModel(responder=scripted_slots),
                embedder,
                agent_id="orchestrator",
                today=dt.date(2026, 11, 25),
            )
            card = next(a.card for a in load_spec(TRAVEL).agents if a.card.id == "orchestrator")
            orchestrator.join(card)
            recorder = settle_with_a_fresh_recorder(orchestrator, tmp_path / runtime)
            session = await orchestrator.submit(INSTRUCTION)
            assert session.task.state is TaskState.COMPLETED, session.task.status_message
            figures[runtime] = settlement_figures(recorder, session.task.id)
    assert figures["ray"] == figures["local"]
    assert figures["local"]["payouts"]["user"] > 0
