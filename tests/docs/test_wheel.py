"""`python -m build` makes a wheel that installs in a clean venv, with only the `local`
extra, and runs the README's quickstart (slow: it installs from the package index;
`make test-wheel`)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from support.docs_examples import ROOT, python_blocks

pytestmark = pytest.mark.slow


def clean_env(**more: str) -> dict[str, str]:
    """This process's environment without this checkout on the path (pip would take the
    checkout for an installed lamas) and without a database or model chosen."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LAMAS_DATABASE_URL")}
    env.pop("LAMAS_MODEL", None)
    return {**env, **more}


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", clean_env())
    done = subprocess.run(args, capture_output=True, text=True, timeout=1800, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_wheel_installs_alone_and_runs_the_quickstart(tmp_path: Path) -> None:
    run(sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(ROOT))
    (wheel,) = (tmp_path / "dist").glob("lamas-*.whl")
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    run(python, "-m", "pip", "install", "--quiet", f"{wheel}[local]")
    # Only what the core and `local` need: no torch, Ray, OpenDP, OpenTelemetry, A2A.
    listed = run(python, "-m", "pip", "list", "--format=freeze").stdout.lower()
    for heavy in ("torch", "ray", "opendp", "opentelemetry-sdk", "a2a-sdk", "starlette"):
        assert f"\n{heavy}==" not in f"\n{listed}", f"{heavy} was installed"
    home = tmp_path / "home"
    env = clean_env(LAMAS_HOME=str(home), OMP_WAIT_POLICY="passive")
    lamas = str(tmp_path / "venv" / "bin" / "lamas")
    run(lamas, "models", "install", "smollm2-135m", env=env, cwd=tmp_path)
    quickstart = python_blocks(ROOT / "README.md")[0]
    done = run(python, "-c", quickstart, env=env, cwd=tmp_path)
    assert " settled: value " in done.stdout, done.stdout
    # The optional features say which extra they need.
    missing = subprocess.run(
        [lamas, "run", str(ROOT / "examples" / "hello" / "network.yaml"), "x", "--runtime", "ray"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert missing.returncode == 2
    assert "pip install 'lamas[ray]'" in " ".join(missing.stderr.split())
