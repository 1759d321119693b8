"""A guarded network of real processes for the adversarial suite (tests/security/): a
registry, a private agent (`keeper`, not public), a public one (`door`: small rate buckets
and task cap, so floods and growth show within a test), and two ordinary callers (`alice`,
`mallory`), each `lamas serve` on 127.0.0.1. The attacker talks raw JSON-RPC (`Rpc`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lamas.interop.keys import KeyFolder, make_keys
from lamas.interop.tokens import mint
from lamas.protocol import AgentCard
from lamas.protocol.cards import Skill
from support.cluster import Cluster

AGENTS = """
import asyncio
from lamas.agent.agent import Agent
from lamas.protocol import AgentCard, Message
from lamas.protocol.cards import Skill


def card(agent, entity):
    skill = Skill(name=f"{agent}.echo", description="says back what it got")
    return AgentCard(id=agent, name=agent, entity=entity, skills=(skill,))


async def echo(envelope, context):
    text = envelope.message.text
    if text == "slow":
        await asyncio.sleep(30)
    return Message.of_data({"echo": text[:80], "length": len(text), "from": envelope.sender})


keeper = Agent(card("keeper", "keeper-co"), echo)
door = Agent(card("door", "door-co"), echo)
alice = Agent(card("alice", "alice-co"), echo)
mallory = Agent(card("mallory", "mallory-co"), echo)
"""
NAMES = {"keeper": "keeper-co", "door": "door-co", "alice": "alice-co", "mallory": "mallory-co"}
DOOR_RATE = ("20", "40")  # calls a second, burst: each caller's bucket at the door
DOOR_MAX_TASKS = 40
EVERY_METHODS = [
    "SendMessage",
    "SendStreamingMessage",
    "GetTask",
    "ListTasks",
    "CancelTask",
    "SubscribeToTask",
    "CreateTaskPushNotificationConfig",
    "GetTaskPushNotificationConfig",
    "ListTaskPushNotificationConfigs",
    "DeleteTaskPushNotificationConfig",
    "GetExtendedAgentCard",
]


def keeper_args(base: Path) -> list[str]:
    """keeper keeps its tasks in a SQLite file: a restarted keeper still has them."""
    return [f"{base / 'agents.py'}:keeper", "--task-store", f"sqlite:///{base / 'keeper.db'}"]


@dataclass
class Guarded:
    cluster: Cluster
    keys: KeyFolder
    keeper: str
    door: str
    base: Path

    def token(self, caller: str, audience: str) -> str:
        return mint(self.keys.agent_key(caller), caller, audience)

    def auth(self, caller: str, audience: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(caller, audience)}"}


@pytest.fixture(scope="session")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    base = tmp_path_factory.mktemp("guarded")
    (base / "agents.py").write_text(AGENTS)
    cards = [
        AgentCard(
            id=a, name=a, entity=e, skills=(Skill(name=f"{a}.echo", description="says back"),)
        )
        for a, e in NAMES.items()
    ]
    make_keys(base / "keys", cards, callers=["user"])
    (base / "logs").mkdir()
    cluster = Cluster(base / "keys", base / "logs")
    module = str(base / "agents.py")
    try:
        cluster.start_registry()
        cluster.start_agent("keeper", *keeper_args(base))
        door = ["--public", "--caller-rate", *DOOR_RATE, "--max-tasks", str(DOOR_MAX_TASKS)]
        cluster.start_agent("door", f"{module}:door", *door)
        cluster.start_agent("alice", f"{module}:alice")
        cluster.start_agent("mallory", f"{module}:mallory")
        cluster.ready(list(NAMES), timeout=120)
        keys = KeyFolder(base / "keys")
        yield Guarded(cluster, keys, cluster.url("keeper"), cluster.url("door"), base)
    finally:
        cluster.stop()


class Rpc:
    """A raw JSON-RPC 2.0 client over HTTP, as an attacker would write one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=30)

    def post(self, body: bytes | str, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"Content-Type": "application/json", "A2A-Version": "1.0", **(headers or {})}
        return self.http.post(self.url, content=body, headers=sent)

    def call(
        self, method: str, params: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}
        response = self.post(json.dumps(body), headers)
        assert response.status_code in (200, 401), response.text
        answer: dict[str, Any] = response.json()
        return answer

    def close(self) -> None:
        self.http.close()


def text_message(text: str, task_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "messageId": str(uuid.uuid4()),
        "role": "ROLE_USER",
        "parts": [{"text": text}],
    }
    if task_id:
        message["taskId"] = task_id
    return message


@pytest.fixture
def keeper_rpc(guarded: Guarded) -> Iterator[Rpc]:
    rpc = Rpc(guarded.keeper)
    yield rpc
    rpc.close()


@pytest.fixture
def door_rpc(guarded: Guarded) -> Iterator[Rpc]:
    rpc = Rpc(guarded.door)
    yield rpc
    rpc.close()


def error_code(answer: dict[str, Any]) -> int | None:
    error = answer.get("error")
    return int(error["code"]) if isinstance(error, dict) else None
