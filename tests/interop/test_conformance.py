"""Conformance kits against lamas's own servers (`make conformance` prints the counts).

MCP: the official conformance suite (`@modelcontextprotocol/conformance`, from npm by
`make interop-tools`) against `lamas mcp --http`. Its server scenarios are of two kinds:
protocol scenarios any MCP server must pass (run here, every check must succeed), and
scenarios written against the suite's own fixture server, which call tools, prompts and
resources only that fixture has (`test_image_content`, `test_prompt_with_arguments`,
...) or need capabilities a network of agents does not offer (resources, prompts,
completion, logging, sampling): those are listed in FIXTURE_ONLY and not run.

A2A: the TCK, when installed (docs/interop.md), in tests/interop/test_a2a_tck.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.interop import free_port, kit_env, npm_bin, wait_for

ROOT = Path(__file__).resolve().parents[2]
LAMAS = Path(sys.executable).with_name("lamas")

PROTOCOL = (
    "server-initialize",
    "ping",
    "tools-list",
    "tools-call-error",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
)
FIXTURE_ONLY = {
    "logging-set-level": "logging capability (deprecated in 2026-07-28) not offered",
    "completion-complete": "completes the fixture's prompt `test_prompt_with_arguments`",
    "tools-call-simple-text": "calls the fixture's tool `test_simple_text`",
    "tools-call-image": "calls the fixture's tool `test_image_content`",
    "tools-call-audio": "calls the fixture's tool `test_audio_content`",
    "tools-call-embedded-resource": "calls the fixture's tool `test_embedded_resource`",
    "tools-call-mixed-content": "calls the fixture's tool `test_multiple_content_types`",
    "tools-call-with-logging": "calls the fixture's tool `test_tool_with_logging`",
    "tools-call-with-progress": "calls the fixture's `test_tool_with_progress` (ours: test_mcp)",
    "tools-call-sampling": "calls the fixture's tool `test_sampling`",
    "tools-call-elicitation": "calls the fixture's `test_elicitation` (ours: test_mcp)",
    "json-schema-2020-12": "lists the fixture's tool `json_schema_2020_12_tool`",
    "elicitation-sep1034-defaults": "calls the fixture's `test_elicitation_sep1034_defaults`",
    "elicitation-sep1330-enums": "calls the fixture's `test_elicitation_sep1330_enums`",
    "server-sse-polling": "calls the fixture's tool `test_reconnection`",
    "resources-list": "resources capability not offered",
    "resources-read-text": "reads the fixture's resource test://static-text",
    "resources-read-binary": "reads the fixture's resource test://static-binary",
    "resources-templates-read": "reads the fixture's resource template",
    "resources-subscribe": "resources capability not offered",
    "resources-unsubscribe": "resources capability not offered",
    "prompts-list": "prompts capability not offered",
    "prompts-get-simple": "gets the fixture's prompt `test_simple_prompt`",
    "prompts-get-with-args": "gets the fixture's prompt `test_prompt_with_arguments`",
    "prompts-get-embedded-resource": "gets the fixture's prompt with a resource",
    "prompts-get-with-image": "gets the fixture's prompt `test_prompt_with_image`",
}

pytestmark = pytest.mark.conformance


@pytest.fixture(scope="module")
def lamas_mcp_http() -> Iterator[str]:
    """`lamas mcp examples/travel/network.yaml --http PORT`, the real command."""
    port = free_port()
    network = ROOT / "examples" / "travel" / "network.yaml"
    process = subprocess.Popen([str(LAMAS), "mcp", str(network), "--http", str(port)])
    try:
        wait_for(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def run_scenario(url: str, scenario: str, out: Path) -> list[dict[str, object]]:
    kit = npm_bin()
    subprocess.run(
        [str(kit / "node"), str(kit / "conformance"), "server", "--url", url,
         "--scenario", scenario, "-o", str(out)],
        env=kit_env(), capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    found = sorted(out.glob(f"server-{scenario}-*/checks.json"))
    assert found, f"{scenario}: the suite wrote no results"
    checks: list[dict[str, object]] = json.loads(found[-1].read_text())
    return checks


def test_every_server_scenario_is_run_or_named_with_why() -> None:
    kit = npm_bin()
    listed = subprocess.run(
        [str(kit / "node"), str(kit / "conformance"), "list"],
        env=kit_env(), capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    server_part = listed.split("Client scenarios")[0]
    scenarios = {
        line.strip()[2:].split(" ")[0]
        for line in server_part.splitlines()
        if line.strip().startswith("- ")
    }
    assert scenarios == set(PROTOCOL) | set(FIXTURE_ONLY)


@pytest.mark.parametrize("scenario", PROTOCOL)
def test_lamas_mcp_passes_the_protocol_scenarios(
    lamas_mcp_http: str, scenario: str, tmp_path: Path
) -> None:
    checks = run_scenario(lamas_mcp_http, scenario, tmp_path)
    failed = [c for c in checks if c.get("status") == "FAILURE"]
    assert not failed, failed
    assert any(c.get("status") == "SUCCESS" for c in checks)
