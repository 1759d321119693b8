"""The pages over HTTP (Starlette's test client): each renders, and shows the ledger's numbers."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from conftest import TRAVEL_NETWORK, DemoLedger
from starlette.testclient import TestClient

from lamas.dashboard.app import create_app
from lamas.economy.attribution import read_traffic
from lamas.protocol.ledger import EntryKind


@pytest.fixture(scope="module")
def client(demo_ledger: DemoLedger) -> Iterator[TestClient]:
    with TestClient(create_app(demo_ledger.ledger, networks=[TRAVEL_NETWORK])) as http:
        yield http


def test_tasks_page_lists_filters_and_searches(client: TestClient, demo_ledger: DemoLedger) -> None:
    page = client.get("/tasks")
    assert page.status_code == 200
    assert demo_ledger.task_id in page.text
    assert "Book me a train from Paris to Lyon" in page.text
    only_failed = client.get("/tasks", params={"status": "failed"}).text
    assert demo_ledger.failed_id in only_failed
    assert demo_ledger.task_id not in only_failed
    found = client.get("/tasks", params={"q": "Part-Dieu"}).text
    assert demo_ledger.task_id in found
    assert demo_ledger.waiting_id not in found
    assert client.get("/").url.path == "/tasks"


def test_task_page_has_every_section(client: TestClient, demo_ledger: DemoLedger) -> None:
    page = client.get(f"/tasks/{demo_ledger.task_id}")
    assert page.status_code == 200
    for section in ('id="plan"', 'id="messages"', 'id="consensus"', 'id="privacy"', 'id="credit"'):
        assert section in page.text
    assert "no vault reads recorded" not in page.text
    assert "vault.read" in page.text
    # the entity behind each reader, from its card (the vault records agents only)
    assert "<td>staywell</td><td>staywell-hotels</td>" in page.text
    assert page.text.count("<svg") == 3  # plan, sequence diagram, credit chart
    outcome = next(demo_ledger.ledger.entries(task_id=demo_ledger.task_id, kind=EntryKind.OUTCOME))
    assert f"{Decimal(outcome.payload['value']):,} EUR" in page.text
    missing = client.get("/tasks/no-such-task")
    assert missing.status_code == 404
    assert "no task no-such-task" in missing.text


def test_network_and_agent_pages(client: TestClient) -> None:
    network = client.get("/network")
    assert network.status_code == 200
    for agent in ("orchestrator", "railgo", "swiftrail", "staywell", "personal", "navigator"):
        assert f'data-agent="{agent}"' in network.text
    agent = client.get("/agents/staywell")
    assert agent.status_code == 200
    assert "staywell-hotels" in agent.text
    assert "hotel.book" in agent.text
    assert client.get("/agents/nobody").status_code == 404


def test_economy_page_shows_payouts_traffic_and_verification(
    client: TestClient, demo_ledger: DemoLedger
) -> None:
    page = client.get("/economy")
    assert page.status_code == 200
    head = demo_ledger.ledger.head()
    assert head is not None
    assert f"ok: {head.sequence:,} entries" in page.text
    traffic = read_traffic(demo_ledger.ledger)
    for name, row in traffic.agents.items():
        assert f'data-agent="{name}"' in page.text
        assert f"{row.rates.ctr * 100:.2f}%" in page.text
    full = client.get("/economy", params={"verify": "full"})
    assert "Full re-check just now: ok" in full.text


def test_api_lists_tasks_as_json(client: TestClient, demo_ledger: DemoLedger) -> None:
    data = client.get("/api/tasks").json()
    assert data["matched"] == 3
    ids = {t["id"] for t in data["tasks"]}
    assert demo_ledger.task_id in ids


def test_two_networks_sharing_agent_ids_stay_apart(demo_ledger: DemoLedger) -> None:
    """travel and music each have a `personal` agent: two drawings, a row per network, and
    the agent page shows each network's card, not one network's beside the other's figures."""
    music = TRAVEL_NETWORK.parents[1] / "music" / "network.yaml"
    app = create_app(demo_ledger.ledger, networks=[TRAVEL_NETWORK, music])
    with TestClient(app) as http:
        page = http.get("/network").text
        assert page.count('class="network-part"') == 2
        assert page.count("<svg") == 2
        assert page.count('<tr data-agent="personal"') == 2
        assert 'data-network="travel' in page
        agent = http.get("/agents/personal").text
        assert 'id="agent-networks"' in agent
        assert agent.count('class="card network-card"') == 2
