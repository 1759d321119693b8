"""The npm interop kits (`make interop-tools`: Node 22, the MCP conformance suite, the
MCP everything-server) in the repository's .interop/ folder, installed on first need."""

from __future__ import annotations

import os
import shutil
import subprocess
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
