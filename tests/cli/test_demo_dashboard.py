"""`lamas demo travel --dashboard`: the demo's own code path, with the scripted model in place
of the embedded one, serves the dashboard over the demo's ledger while the task runs."""

from __future__ import annotations

import datetime as dt
import io
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from lamas.protocol.tasks import TaskState

ROOT = Path(__file__).resolve().parents[2]


async def test_the_demo_serves_its_task_on_the_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.casestudy import scripted_slots

    import lamas.llm.local
    from lamas.cli.demo import run_demo
    from lamas.dashboard.server import DashboardServer
    from lamas.llm import ScriptedModel

    monkeypatch.setenv("LAMAS_HOME", str(tmp_path))
    monkeypatch.setenv("LAMAS_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setattr(
        lamas.llm.local, "LocalModel", lambda name, **_: ScriptedModel(responder=scripted_slots)
    )
    started: list[DashboardServer] = []
    original = DashboardServer.start

    def start(self: DashboardServer, timeout: float = 120.0) -> None:
        started.append(self)
        original(self, timeout)

    monkeypatch.setattr(DashboardServer, "start", start)
    port = free_port()
    output = io.StringIO()
    session = await run_demo(
        "travel",
        None,
        model_name="scripted",
        answers=[],
        today=dt.date(2026, 11, 25),
        console=Console(file=output, width=200),
        interactive=False,
        dashboard_port=port,
    )
    (server,) = started
    try:
        assert session.task.state is TaskState.COMPLETED
        assert f"dashboard on http://127.0.0.1:{port}/live" in output.getvalue()
        async with httpx.AsyncClient(base_url=server.url) as http:
            tasks: Any = (await http.get("/api/tasks")).json()
            (task,) = tasks["tasks"]
            assert task["id"] == session.task.id
            assert task["status"] == "completed"
            assert task["instruction"].startswith("Book me a train from Paris to Lyon")
            page = await http.get(f"/tasks/{session.task.id}")
            assert page.status_code == 200
            assert "consensus" in page.text
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
