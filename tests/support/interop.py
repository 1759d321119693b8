"""The npm interop kits (`make interop-tools`: Node 22, the MCP conformance suite, the
MCP everything-server) in the repository's .interop/ folder, installed on first need."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIT = Path(os.environ.get("LAMAS_INTEROP_DIR", ROOT / ".interop")) / "node_modules" / ".bin"


def npm_bin() -> Path:
    """The kits' bin folder (with its `node` first on PATH, the others run by it); skips
    the test, with npm's words, only when npm cannot install them."""
    if not (KIT / "conformance").exists() or not (KIT / "mcp-server-everything").exists():
        if shutil.which("npm") is None or shutil.which("make") is None:
            pytest.skip("npm (or make) is not installed: cannot install the MCP kits")
        made = subprocess.run(
            ["make", "-s", "-C", str(ROOT), "interop-tools"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if made.returncode != 0:
            pytest.skip(f"npm unreachable, the MCP kits not installed: {made.stderr[-300:]}")
    return KIT


def kit_env() -> dict[str, str]:
    """The environment to run a kit in: its Node 22 before any other on PATH."""
    return {**os.environ, "PATH": f"{npm_bin()}{os.pathsep}{os.environ.get('PATH', '')}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(port: int, process: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    """Until something listens on `port` of 127.0.0.1 (fails if `process` exits first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after {seconds:g} s")
