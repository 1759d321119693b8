"""No vault value outside the vault and the granted vendor, in networked mode.

Canaries are planted in the personal agent's vault; the travel network runs as separate
`lamas serve` processes (spans printed to their logs, LAMAS_TRACE=console), and the
orchestrator is a node in this process, asked the demo instruction by a plain A2A client.
Then everything that is kept or shown is scanned: every node's A2A task store through
every read method (ListTasks with artifacts, GetTask with history) as every identity, every
process's log, this process's log and trace spans, the ledger, and the dashboard's pages.
Zero hits. The vendors did get the values (the bookings are confirmed, and the vault's
replies to them are in its task store, sealed), so the zero is not for want of use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from a2a.helpers.proto_helpers import new_text_message
from a2a.types import Role
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient
from support.canaries import canary_profile
from support.casestudy import EXAMPLES, TRAVEL, scripted_slots
from support.cluster import Cluster

from lamas import telemetry
from lamas.agent.embeddings import MiniLMEmbedder
from lamas.dashboard.app import create_app
from lamas.interop.client import A2AConnector
from lamas.interop.keys import KeyFolder, make_keys
from lamas.interop.launch import node_from_network, orchestrate
from lamas.interop.node import Node
from lamas.interop.tokens import mint
from lamas.llm import ScriptedModel
from lamas.privacy import Vault, load_key
from lamas.privacy.vault import vault_path
from lamas.runtime.netfile import load_spec

pytestmark = pytest.mark.asyncio(loop_scope="module")

NETWORK = EXAMPLES / "travel" / "network.yaml"
SERVICES = ["personal", "railgo", "swiftrail", "staywell", "navigator", "logger"]
AGENTS = [*SERVICES, "orchestrator"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A canary vault, where this process and the agents' processes all look for it."""
    base = tmp_path_factory.mktemp("canaries")
    env = {
        "LAMAS_HOME": str(base / "home"),
        "LAMAS_VAULT_DIR": str(base / "vaults"),
        "LAMAS_VAULT_KEY_FILE": str(base / "vault.key"),
        "LAMAS_TRACE": "console",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            if name != "LAMAS_TRACE":
                patch.setenv(name, value)
        patch.delenv("LAMAS_VAULT_KEY", raising=False)
        profile, canaries = canary_profile(random.Random(20261207))
        Vault.create(profile, load_key(create=True), path=vault_path("travel-personal"))
        yield base, canaries


@pytest.fixture(scope="module")
def cluster(planted: tuple[Path, list[str]]) -> Iterator[Cluster]:
    base, _ = planted
    make_keys(base / "keys", (a.card for a in load_spec(NETWORK).agents), callers=["user"])
    (base / "logs").mkdir()
    env = {
        "LAMAS_HOME": str(base / "home"),
        "LAMAS_VAULT_DIR": str(base / "vaults"),
        "LAMAS_VAULT_KEY_FILE": str(base / "vault.key"),
        "LAMAS_TRACE": "console",
    }
    running = Cluster(base / "keys", base / "logs", env=env)
    try:
        running.start_registry()
        for agent in SERVICES:
            running.start_agent(agent)
        yield running
    finally:
        running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ran(
    cluster: Cluster, planted: tuple[Path, list[str]]
) -> AsyncIterator[tuple[Node, Any, str, InMemorySpanExporter]]:
    base, _ = planted
    cluster.ready(SERVICES)
    spans = InMemorySpanExporter()
    telemetry.configure(spans)
    spec, node, _ = node_from_network(
        NETWORK, "orchestrator", KeyFolder(cluster.keys), registry=cluster.registry_url, public=True
    )
    ledger_url = f"sqlite:///{base / 'ledger.db'}"
    orchestrator, recorder = await orchestrate(
        spec,
        node,
        ScriptedModel(responder=scripted_slots),
        MiniLMEmbedder(),
        today=dt.date(2026, 11, 25),
        ledger_url=ledger_url,
    )
    capability = "K" * 43
    connector = A2AConnector()
    try:
        await connector.fetch_card(node.url)
        message = new_text_message(TRAVEL, role=Role.ROLE_USER)
        headers = {"X-Lamas-Capability": capability}
        async for _ in connector.stream(node.url, message, timeout=120, headers=headers):
            pass
        session = next(iter(orchestrator.sessions.values()))
        assert session.runs["ticket.book"].output["status"] == "confirmed"
        assert session.runs["hotel.book"].output["status"] == "confirmed"
        recorder.flush()
        yield node, recorder.ledger, capability, spans
    finally:
        await connector.close()
        await node.close()
        telemetry.configure("none")


def every_task(url: str, audience: str, headers: dict[str, str]) -> list[Any]:
    """Everything a caller can read of its tasks at one node, by every read method."""
    found: list[Any] = []
    with httpx.Client(timeout=30) as http:

        def call(method: str, params: dict[str, Any]) -> Any:
            body = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}
            sent = {"A2A-Version": "1.0", **headers}
            return http.post(url, json=body, headers=sent).json()

        listed = call("ListTasks", {"includeArtifacts": True, "historyLength": 1000})
        found.append(listed)
        for task in listed.get("result", {}).get("tasks", []):
            found.append(call("GetTask", {"id": task["id"], "historyLength": 1000}))
    return found


def dashboard_pages(ledger: Any, pages: list[str]) -> dict[str, str]:
    with TestClient(create_app(ledger, networks=[NETWORK])) as http:
        shown = {page: http.get(page) for page in pages}
    assert all(r.status_code == 200 for r in shown.values()), shown
    return {f"dashboard {page}": r.text for page, r in shown.items()}


async def test_no_canary_anywhere_but_in_the_vault_and_the_granted_vendor(
    ran: tuple[Node, Any, str, InMemorySpanExporter],
    cluster: Cluster,
    planted: tuple[Path, list[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    node, ledger, capability, spans = ran
    _, canaries = planted
    caplog.set_level(logging.DEBUG)
    keys = KeyFolder(cluster.keys)
    places: dict[str, str] = {}
    # Every node's task store, as every identity (each sees its own tasks only) ...
    urls = {agent: cluster.url(agent) for agent in SERVICES}
    urls["orchestrator"] = node.url
    stored = 0
    for agent, url in urls.items():
        for caller in AGENTS:
            token = mint(keys.agent_key(caller), caller, agent)
            # In a thread: the orchestrator's node serves from this test's event loop.
            headers = {"Authorization": f"Bearer {token}"}
            read = await asyncio.to_thread(every_task, url, agent, headers)
            stored += sum(1 for r in read if "id" in r.get("result", {}))
            places[f"{agent}'s tasks as {caller}"] = json.dumps(read)
    anonymous = await asyncio.to_thread(
        every_task, node.url, "orchestrator", {"X-Lamas-Capability": capability}
    )
    places["orchestrator's tasks as the user"] = json.dumps(anonymous)
    assert stored >= len(SERVICES)  # the scan did read tasks (personal's redeem replies among them)
    assert (
        "sealed" in places["personal's tasks as railgo"] + places["personal's tasks as swiftrail"]
    )
    # ... every process's log (spans included), this process's log and spans ...
    for name in cluster.processes:
        places[f"{name}'s log"] = cluster.log(name)
    assert "trace_id" in places["personal's log"]  # spans were printed there
    places["this process's log"] = caplog.text
    places["this process's spans"] = "\n".join(s.to_json() for s in spans.get_finished_spans())
    assert spans.get_finished_spans()
    # ... the ledger, and the dashboard.
    entries = list(ledger.entries())
    places["ledger"] = json.dumps([e.model_dump(mode="json") for e in entries], default=str)
    task_ids = {e.task_id for e in entries if e.task_id}
    pages = ["/tasks", "/live", "/network", "/economy", "/api/tasks"]
    pages += [f"/tasks/{t}" for t in task_ids] + [f"/agents/{a}" for a in AGENTS]
    places.update(await asyncio.to_thread(dashboard_pages, ledger, pages))
    hits = {place: [c for c in canaries if c in text] for place, text in places.items()}
    assert {place: found for place, found in hits.items() if found} == {}
    # The vendors did open the values (a booking without them fails: the fixture checked
    # both bookings are confirmed), and what the vault sent each was sealed to it.
    assert '"sealed"' in places["personal's tasks as staywell"].replace('\\"', '"')
