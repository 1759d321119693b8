"""The dashboard against hostile ledger text and hostile requests: every dynamic value
escaped for its context (HTML text, attribute, URL, and the Live page's script), bad
query parameters answered with 400, and a token required beyond loopback."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lamas.dashboard.access import check_token
from lamas.dashboard.app import create_app
from lamas.dashboard.server import DashboardServer
from lamas.economy.ledger import Ledger
from lamas.errors import ConfigError
from lamas.protocol.ledger import EntryKind, TaskOpened, TaskStatus
from lamas.security.identity import PrivateKey
from lamas.store import create_engine

# Breaks out of a quoted attribute, opens a tag, and runs script if not escaped.
HOSTILE = '"\'><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
TASK_ID = 'task"onmouseover="window.__pwned=3'
STATE = 'working" onmouseover="window.__pwned=4'
TOKEN = "s3cret-dashboard-token-0123"


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    writer = Ledger(create_engine(url), PrivateKey.generate())
    steps = [{"id": "s0", "capability": "demo.step"}]
    writer.append(
        EntryKind.TASK_OPENED, task_id=TASK_ID, payload=TaskOpened(instruction=HOSTILE, steps=steps)
    )
    writer.append(EntryKind.TASK_STATUS, task_id=TASK_ID, payload=TaskStatus(state=STATE))
    return url


@pytest.fixture
def http(ledger_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Ledger(create_engine(ledger_url)))) as client:
        yield client


def test_ledger_text_is_escaped_in_html_text_and_attributes(http: TestClient) -> None:
    for path in ("/tasks", "/live"):
        page = http.get(path)
        assert page.status_code == 200
        assert "<script>window.__pwned" not in page.text  # text context
        assert "<img src=x" not in page.text
        assert 'onmouseover="window' not in page.text  # attribute context (data-task)
        assert "&lt;script&gt;" in page.text or "&#34;" in page.text or "&quot;" in page.text


def test_task_ids_are_url_encoded_in_links(http: TestClient) -> None:
    page = http.get("/tasks").text
    assert 'href="/tasks/task%22onmouseover%3D%22window.__pwned%3D3"' in page
    detail = http.get("/tasks/task%22onmouseover%3D%22window.__pwned%3D3")
    assert detail.status_code == 200
    assert 'onmouseover="window' not in detail.text


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/tasks?page=abc", "page must be a whole number"),
        ("/tasks?page=0", "page must be at least 1"),
        ("/tasks?page=1e9999", "page must be a whole number"),
        ("/events?after=abc", "after must be a whole number"),
        ("/events?after=-5", "after must be at least 0"),
    ],
)
def test_bad_query_parameters_get_400_with_a_message(
    http: TestClient, path: str, says: str
) -> None:
    answer = http.get(path)
    assert answer.status_code == 400
    assert says in answer.text


def test_beyond_loopback_a_token_is_required(ledger_url: str) -> None:
    ledger = Ledger(create_engine(ledger_url))
    with pytest.raises(ConfigError, match="--token"):
        DashboardServer(ledger, host="0.0.0.0", port=free_port())
    with pytest.raises(ConfigError, match="at least 16"):
        check_token("0.0.0.0", "short")
    check_token("127.0.0.1", None)  # loopback: no token needed
    check_token("::1", None)


def test_the_token_gate_lets_only_token_holders_in(ledger_url: str) -> None:
    app = create_app(Ledger(create_engine(ledger_url)), token=TOKEN)
    with TestClient(app, follow_redirects=False) as http:
        assert http.get("/tasks").status_code == 401
        assert http.get("/tasks", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert http.get("/api/tasks?token=wrong").status_code == 401
        ok = http.get("/tasks", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        # A browser: the token once in the URL, then a cookie; the URL loses the token.
        first = http.get(f"/tasks?q=x&token={TOKEN}")
        assert first.status_code == 303
        assert first.headers["location"] == "/tasks?q=x"
        assert "httponly" in first.headers["set-cookie"].lower()
        assert http.get("/tasks").status_code == 200  # the cookie now


def test_lamas_dashboard_refuses_a_public_bind_without_a_token(ledger_url: str) -> None:
    from typer.testing import CliRunner

    from lamas.cli.main import app

    result = CliRunner().invoke(
        app, ["dashboard", "--db", ledger_url, "--host", "0.0.0.0"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "give it a token" in result.output


# --- the Live page's script, in a real browser --------------------------------------------

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.browser
def test_the_live_pages_script_escapes_what_it_inserts(ledger_url: str) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    server = DashboardServer(Ledger(create_engine(ledger_url)), port=free_port())
    server.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page: Any = browser.new_page()
            page.goto(f"{server.url}/live")
            page.wait_for_selector("#live-state.on")
            # A new hostile entry arrives by server-sent event: the script builds its row.
            writer = Ledger(create_engine(ledger_url), PrivateKey.generate())
            writer.append(
                EntryKind.TASK_OPENED,
                task_id=TASK_ID + "-2",
                payload=TaskOpened(instruction=HOSTILE, steps=[]),
            )
            writer.append(
                EntryKind.TASK_STATUS, task_id=TASK_ID + "-2", payload=TaskStatus(state=STATE)
            )
            page.wait_for_function(
                "s => [...document.querySelectorAll('#live-tasks .status')]"
                ".filter(e => e.innerText === s).length >= 2",
                arg=STATE,
            )
            assert page.evaluate("() => window.__pwned") is None
            # No attribute broke out of class="status ...": the hostile state is one class
            # text, and no element got an event handler from ledger text.
            assert page.evaluate("() => document.querySelectorAll('[onmouseover]').length") == 0
            texts = page.locator("#live-tasks td.instruction").all_inner_texts()
            assert texts.count(HOSTILE) == 2  # shown as text, exactly
            browser.close()
    finally:
        server.stop()
