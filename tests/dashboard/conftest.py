"""A ledger the dashboard can show: the travel case study run end to end (MiniLM routing,
scripted slot filling), a task this network cannot plan (failed), and a batch of ad
traffic; all recorded by the real ledger hook in a SQLite file."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from lamas.economy.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
TRAVEL_NETWORK = ROOT / "examples" / "travel" / "network.yaml"
ARTIFACTS = ROOT / "tests" / "artifacts"


@dataclass(frozen=True)
class DemoLedger:
    url: str
    ledger: Ledger
    task_id: str  # the completed travel task
    waiting_id: str  # a task waiting for the user's answer
    failed_id: str  # a task nobody could plan
    batch: str  # the traffic batch


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _run(ledger: Ledger) -> tuple[str, str, str]:
    from support.casestudy import TRAVEL, build  # the case-study tests' own set-up

    from lamas.agent.embeddings import MiniLMEmbedder
    from lamas.protocol.tasks import TaskState
    from lamas.runtime.ledger_hook import LedgerRecorder

    orchestrator, _ = build("travel", "orchestrator", MiniLMEmbedder())
    recorder = LedgerRecorder(ledger, orchestrator, record_instruction=True)
    done = await orchestrator.submit(TRAVEL)
    assert done.task.state is TaskState.COMPLETED, done.task.status_message
    # No city and no date: the orchestrator asks back (a music request here is not offered).
    waiting = await orchestrator.submit("Book me a hotel for two nights")
    assert waiting.task.state is TaskState.INPUT_REQUIRED
    failed = await orchestrator.submit("zzz qqq xxv")
    assert failed.task.state is TaskState.FAILED
    recorder.flush()
    return done.task.id, waiting.task.id, failed.task.id


def _traffic(ledger: Ledger) -> str:
    from lamas.economy.attribution import Journey, Touch, record_traffic

    journeys = [
        Journey(
            "j1",
            (Touch("railgo", "impression", 1), Touch("railgo", "click", 2)),
            True,
            Decimal("120.00"),
        ),
        Journey("j2", (Touch("swiftrail", "impression", 1), Touch("railgo", "impression", 2))),
        Journey(
            "j3",
            (Touch("swiftrail", "impression", 1), Touch("swiftrail", "click", 3)),
            True,
            Decimal("80.00"),
        ),
        Journey("j4", (Touch("staywell", "impression", 1),)),
    ]
    owners = {"railgo": "railgo", "swiftrail": "swiftrail", "staywell": "staywell-hotels"}
    record_traffic(ledger, journeys, batch="ads-1", owners=owners)
    return "ads-1"


@pytest.fixture(scope="package")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> DemoLedger:
    from lamas.security.identity import PrivateKey
    from lamas.store import create_engine

    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'ledger.db'}"
    ledger = Ledger(create_engine(url), PrivateKey.generate())
    # The personal agent's vault records grants and reads in the platform's ledger (the
    # configured database): make that this one, as it is in `lamas demo`.
    saved = os.environ.get("LAMAS_DATABASE_URL")
    os.environ["LAMAS_DATABASE_URL"] = url
    try:
        task_id, waiting_id, failed_id = asyncio.run(_run(ledger))
    finally:
        if saved is None:
            del os.environ["LAMAS_DATABASE_URL"]
        else:
            os.environ["LAMAS_DATABASE_URL"] = saved
    batch = _traffic(ledger)
    return DemoLedger(url, ledger, task_id, waiting_id, failed_id, batch)
