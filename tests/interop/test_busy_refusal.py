"""A task refused for load after the HTTP edge (the gRPC binding, or a request that
raced the edge's check) is rejected, not failed: nothing was started, and `lamas ask`
says busy (exit 75) as it does for the edge's 503. Over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from a2a.helpers.proto_helpers import new_text_message
from a2a.types import Role
from a2a.types import TaskState as A2AState
from support.a2a_echo import CARD, Served
from support.cli import MAIN, ROOT, lamas_env

from lamas.cli.exitcodes import BUSY
from lamas.interop.client import A2AConnector
from lamas.interop.server import a2a_app
from lamas.protocol import Envelope, Message
from lamas.runtime.recovery import Busy


async def test_a_task_refused_for_load_is_rejected_and_lamas_ask_exits_busy(
    tmp_path: Path,
) -> None:
    async def full(envelope: Envelope) -> Message:
        raise Busy("the orchestrator", 7.0)

    served = Served()
    await served.start(a2a_app(CARD.model_copy(update={"url": served.url}), full))
    connector = A2AConnector()
    try:
        task = await connector.send(served.url, new_text_message("go", role=Role.ROLE_USER))
        ask = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            MAIN,
            "ask",
            served.url,
            "book me a trip",
            cwd=ROOT,
            env=lamas_env(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        said, _ = await asyncio.wait_for(ask.communicate(), 120)
    finally:
        await connector.close()
        await served.stop()
    assert task.status.state == A2AState.TASK_STATE_REJECTED
    words = " ".join(p.text for p in task.status.message.parts)
    assert words.startswith("Busy: busy, retry after 7 s"), words
    assert ask.returncode == BUSY, said.decode()
    assert "busy, retry after 7 s" in said.decode()
