"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

A demo's ledger is served on a free port; each page is opened, the numbers it shows are
checked against the ledger's entries, a task is followed to its detail and on to an
agent, the Live page watches a task progress, and every page is saved as a screenshot in
tests/artifacts/ (not committed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import ARTIFACTS, TRAVEL_NETWORK, DemoLedger, free_port

from lamas.dashboard.server import DashboardServer
from lamas.economy.attribution import read_traffic
from lamas.economy.ledger import Ledger
from lamas.protocol.ledger import EntryKind, StepDone, TaskOpened, TaskStatus
from lamas.security.identity import PrivateKey
from lamas.store import create_engine

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(demo_ledger: DemoLedger) -> Iterator[str]:
    ledger = Ledger(create_engine(demo_ledger.url))  # the dashboard's own, read-only
    dashboard = DashboardServer(ledger, port=free_port(), networks=[TRAVEL_NETWORK])
    dashboard.start()
    yield dashboard.url
    dashboard.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = browser.new_page(viewport={"width": 1400, "height": 900})
    yield tab
    tab.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def credit_by_agent(
    demo_ledger: DemoLedger, task_id: str | None = None, *, traffic: bool = False
) -> dict[str, Decimal]:
    """Task credit by agent (or, with `traffic`, credit from traffic conversions, whose
    outcomes are keyed "batch/journey")."""
    found: dict[str, Decimal] = {}
    for entry in demo_ledger.ledger.entries(task_id=task_id, kind=EntryKind.CREDIT_ALLOCATED):
        assert entry.agent is not None
        if ("/" in entry.task_id) != traffic:
            continue
        found[entry.agent] = found.get(entry.agent, Decimal(0)) + Decimal(entry.payload["amount"])
    return found


def test_from_the_task_list_to_a_task_and_an_agent(
    page: Any, server: str, demo_ledger: DemoLedger
) -> None:
    task_id = demo_ledger.task_id
    outcome = next(demo_ledger.ledger.entries(task_id=task_id, kind=EntryKind.OUTCOME))
    value = Decimal(outcome.payload["value"])

    page.goto(f"{server}/tasks")
    assert page.locator("#tasks tbody tr").count() == 3
    row = page.locator(f'tr[data-task="{task_id}"]')
    assert row.locator(".value").inner_text() == f"{value:,} EUR"
    assert row.locator(".status").inner_text() == "completed"
    shot(page, "tasks")

    page.fill("#search", "Part-Dieu")
    page.press("#search", "Enter")
    page.wait_for_url("**/tasks?q=Part-Dieu*")
    assert page.locator("#tasks tbody tr").count() == 1

    row.locator("a.task-link").click()
    page.wait_for_url(f"**/tasks/{task_id}")
    assert page.locator("#task-value").inner_text() == f"{value:,} EUR"
    assert page.locator("#task-status").inner_text() == "completed"
    assert page.locator("#plan svg .dag-step").count() == 4
    messages = sum(1 for _ in demo_ledger.ledger.entries(task_id=task_id, kind=EntryKind.MESSAGE))
    assert page.locator("#messages svg .message").count() == messages
    assert page.locator("#consensus .decision").count() == 1
    reads = page.locator('#privacy tr.vault-entry[data-kind="vault.read"]')
    assert reads.count() == 2  # the ticket and the hotel vendor, under their grants
    assert page.locator('#privacy tr.vault-entry[data-agent="orchestrator"]').count() == 0
    credit = credit_by_agent(demo_ledger, task_id)
    for agent, amount in credit.items():
        cell = page.locator(f'#credit tr[data-agent="{agent}"] .shapley')
        assert Decimal(cell.inner_text()) == amount
    assert page.locator("#credit svg .bar").count() == 3 * len(credit)
    for entry in demo_ledger.ledger.entries(task_id=task_id, kind=EntryKind.PAYOUT):
        cell = page.locator(f'.payouts tr[data-entity="{entry.entity}"] .payout')
        assert cell.inner_text() == f"{Decimal(entry.payload['amount']):,} EUR"
    shot(page, "task")

    booker = page.locator('.steps tr[data-step="hotel.book"] a.agent-link')
    assert booker.inner_text() == "staywell"
    booker.click()
    page.wait_for_url("**/agents/staywell")
    assert page.locator("#agent-entity").inner_text() == "staywell-hotels"
    assert (
        Decimal(page.locator("#agent-credit").inner_text())
        == credit_by_agent(demo_ledger)["staywell"]
    )
    assert Decimal(page.locator("#agent-traffic-credit").inner_text()) == credit_by_agent(
        demo_ledger, traffic=True
    ).get("staywell", Decimal(0))
    assert page.locator("#agent-steps").inner_text() == "2"
    assert page.locator("#agent-success").inner_text() == "100%"
    shot(page, "agent")


def test_network_and_economy_pages(page: Any, server: str, demo_ledger: DemoLedger) -> None:
    earned = credit_by_agent(demo_ledger)
    page.goto(f"{server}/network")
    assert page.locator("#topology svg .node").count() == 7
    for agent, amount in earned.items():
        cell = page.locator(f'#agents tr[data-agent="{agent}"] .credit')
        assert Decimal(cell.inner_text().replace(",", "")) == amount
    shot(page, "network")

    page.goto(f"{server}/economy")
    head = demo_ledger.ledger.head()
    assert head is not None
    assert page.locator("#verify-status").inner_text().startswith(f"ok: {head.sequence:,} entries")
    paid: dict[str, Decimal] = {}
    for entry in demo_ledger.ledger.entries(kind=EntryKind.PAYOUT):
        assert entry.entity is not None
        paid[entry.entity] = paid.get(entry.entity, Decimal(0)) + Decimal(entry.payload["amount"])
    for entity, amount in paid.items():
        cell = page.locator(f'#entity-totals tr[data-entity="{entity}"] td.num')
        assert Decimal(cell.inner_text().replace(",", "")) == amount
    for agent, row in read_traffic(demo_ledger.ledger).agents.items():
        line = page.locator(f'#traffic-table tr[data-agent="{agent}"]')
        assert line.locator(".ctr").inner_text() == f"{row.rates.ctr * 100:.2f}%"
        assert line.locator(".cvr").inner_text() == f"{row.rates.cvr * 100:.2f}%"
    shot(page, "economy")
    page.click("#reverify")
    page.wait_for_url("**/economy?verify=full")
    assert "Full re-check just now: ok" in page.inner_text("#verification")


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    dashboard = DashboardServer(Ledger(create_engine(url)), port=free_port())
    dashboard.start()
    yield dashboard.url, url
    dashboard.stop()


def test_live_page_shows_a_task_appear_and_progress(
    page: Any, empty_server: tuple[str, str]
) -> None:
    server, url = empty_server
    page.goto(f"{server}/live")
    page.wait_for_selector("#live-state.on")
    # A writer the dashboard has never seen (its key is recorded with its first entry).
    writer = Ledger(create_engine(url), PrivateKey.generate())
    steps = [{"id": f"s{i}", "capability": "demo.step"} for i in range(3)]
    opened = TaskOpened(instruction="a task watched live", steps=steps)
    writer.append(EntryKind.TASK_OPENED, task_id="live-1", payload=opened)
    row = page.locator('#live-tasks tr[data-task="live-1"]')
    row.wait_for()
    assert "0/3" in row.inner_text()
    for done in range(1, 4):
        step = StepDone(step_id=f"s{done - 1}")
        writer.append(EntryKind.STEP_DONE, task_id="live-1", agent="worker", payload=step)
        page.wait_for_function(
            "n => document.querySelector('tr[data-task=\"live-1\"]').innerText.includes(n)",
            arg=f"{done}/3",
        )
    writer.append(EntryKind.TASK_STATUS, task_id="live-1", payload=TaskStatus(state="completed"))
    page.wait_for_function(
        "() => document.querySelector('tr[data-task=\"live-1\"] .status').innerText === 'completed'"
    )
    time.sleep(0.9)  # let the highlight fade before the picture
    shot(page, "live")
    page.goto(f"{server}/economy")
    assert page.locator("#verify-status").inner_text().startswith("ok: 5 entries")


def test_the_task_page_reads_as_sentences_and_short_labels(
    page: Any, server: str, demo_ledger: DemoLedger
) -> None:
    """The privacy audit is sentences (no Python reprs, no empty "reason:"); consensus
    options are short labels with the full id on hover (issue 19)."""
    page.goto(f"{server}/tasks/{demo_ledger.task_id}")
    lines = page.locator("#privacy .audit-line").all_inner_texts()
    assert lines, "the demo task reads the vault"
    for line in lines:
        assert line.endswith(".")
        for repr_bit in ("None", "['", "{'", "reason:", "grant_id"):
            assert repr_bit not in line, line
    assert any(" read " in line and " from " in line for line in lines), lines
    options = page.locator("#consensus code.option")
    assert options.count() > 0
    for i in range(options.count()):
        option = options.nth(i)
        full = option.get_attribute("title")
        shown = option.inner_text()
        assert full
        assert len(shown) <= 36
        assert shown == full or (shown.endswith("…") and full.startswith(shown[:-1]))
    shot(page, "task-audit")


def test_the_sequence_diagram_draws_replies_with_their_latency(
    page: Any, server: str, demo_ledger: DemoLedger
) -> None:
    page.goto(f"{server}/tasks/{demo_ledger.task_id}")
    replies = page.locator("#messages svg g.message.reply")
    requests = page.locator("#messages svg g.message:not(.reply)")
    assert replies.count() > 0
    assert replies.count() <= requests.count()
    label = replies.first.locator("text").nth(1).text_content() or ""
    assert label.startswith("reply · ")
    assert label.endswith(" ms")
    assert replies.first.locator("line").get_attribute("stroke-dasharray")
    shot(page, "task-sequence")
