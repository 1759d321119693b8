"""Running `lamas` as a user does: a separate process on this checkout's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MAIN = "from lamas.cli.main import main; main()"


def lamas_env(home: Path, **more: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "LAMAS_HOME": str(home)}
    env.pop("LAMAS_DATABASE_URL", None)
    env.pop("LAMAS_MODEL", None)
    env.update(more)
    return env


def lamas(
    *args: str, home: Path, timeout: float = 600, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Run `lamas ARGS...` to the end."""
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        cwd=ROOT,
        env=lamas_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def lamas_background(*args: str, home: Path, log: Path) -> subprocess.Popen[str]:
    """Start `lamas ARGS...` (a server), its output to `log`."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-c", MAIN, *args],
            cwd=ROOT,
            env=lamas_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
