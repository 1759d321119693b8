"""The A2A TCK (a2aproject/a2a-tck, v1.0 line) against `lamas serve` on all three
bindings, and against the a2a-sdk's own TCK sample agent in the same run.

Nothing is fetched here: the TCK (and the sample) run only where installed, as
docs/interop.md shows (.interop/a2a-tck with its own venv, .interop/a2a-sdk-sample);
otherwise the test is skipped saying so. `make conformance` runs it and prints the counts;
they are also written to benchmarks/results/a2a_tck.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.interop import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
INTEROP = Path(os.environ.get("LAMAS_INTEROP_DIR", ROOT / ".interop"))
TCK = INTEROP / "a2a-tck"
SAMPLE = INTEROP / "a2a-sdk-sample" / "sut_agent.py"
LAMAS = Path(sys.executable).with_name("lamas")
NETWORK = ROOT / "tests" / "support" / "tck" / "network.yaml"
BINDINGS = ("jsonrpc", "http_json", "grpc")  # as the TCK names them in its test ids

pytestmark = [pytest.mark.conformance, pytest.mark.slow]


def tck_python() -> Path:
    python = TCK / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"the A2A TCK is not installed at {TCK} (docs/interop.md says how)")
    return python


@contextmanager
def serving(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(port, process)
        yield
    finally:
        process.terminate()
        process.wait(10)


def run_tck(url: str) -> dict[str, int]:
    """One TCK run against `url`: its outcomes (passed, failure, error, skipped), in all
    and per binding (`grpc.passed`; `card.*`: tests of the card, not of one binding)."""
    reports = TCK / "reports"
    junit = reports / "junitreport.xml"
    junit.unlink(missing_ok=True)
    subprocess.run(
        [str(tck_python()), "run_tck.py", "--sut-host", url],
        cwd=TCK, capture_output=True, timeout=900, check=False,
    )  # fmt: skip
    assert junit.exists(), "the TCK wrote no report"
    counts: dict[str, int] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        binding = next((b for b in BINDINGS if f"[{b}" in name or f"-{b}]" in name), "card")
        outcome = next(
            (o for o in ("failure", "error", "skipped") if case.find(o) is not None), "passed"
        )
        for key in (outcome, f"{binding}.{outcome}"):
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def test_lamas_serve_on_all_bindings_does_at_least_as_well_as_the_sdk_sample(
    tmp_path: Path,
) -> None:
    tck_python()
    commit = (TCK / "COMMIT").read_text().strip() if (TCK / "COMMIT").exists() else "?"
    keys = tmp_path / "keys"
    subprocess.run([str(LAMAS), "keys", str(NETWORK), str(keys)], check=True)
    port, grpc_port = free_port(), free_port()
    serve = [
        str(LAMAS), "serve", str(NETWORK), "--agent", "tck", "--keys", str(keys),
        "--public", "--port", str(port), "--grpc-port", str(grpc_port),
    ]  # fmt: skip
    with serving(serve, port):
        ours = run_tck(f"http://127.0.0.1:{port}")
    results: dict[str, object] = {"tck_commit": commit, "lamas": ours}
    if SAMPLE.exists():
        http, grpc = free_port(), free_port()
        env = {**os.environ, "HTTP_PORT": str(http), "GRPC_PORT": str(grpc)}
        with serving([sys.executable, str(SAMPLE)], http, env):
            results["sdk_sample"] = run_tck(f"http://127.0.0.1:{http}")
    out = ROOT / "benchmarks" / "results" / "a2a_tck.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nA2A TCK {commit[:10]}: {json.dumps(results)}")
    for binding in BINDINGS:
        assert ours.get(f"{binding}.passed", 0) > 0, (binding, ours)
    if "sdk_sample" in results:
        theirs = results["sdk_sample"]
        assert ours["passed"] >= theirs["passed"], results
        for binding in BINDINGS:
            assert ours.get(f"{binding}.passed", 0) >= theirs.get(f"{binding}.passed", 0)
