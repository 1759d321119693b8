"""Every code example of the docs runs (`make test`), and the README's quickstart is the
docs' quickstart, within the line budgets the README promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.docs_examples import DOCS, ROOT, pages_with_code, python_blocks

# The pages whose examples run the embedded 135M model (the others script their model).
ON_THE_MODEL = {"quickstart.md", "tutorials/own-network.md"}
# Pages whose examples need what lamas does not install, and why (shown as the skip reason).
OUTSIDE = {
    "training.md": "a fine-tuning recipe for a GPU machine: datasets, peft, trl (not lamas's)",
    # Fragments that use a network, model and embedder defined nowhere on the page.
    "fault-tolerance.md": "fragments, not a script: `Orchestrator`, `network`... undefined",
    "injection.md": "fragments, not a script: `my_clean_outputs`, `tool_output` undefined",
    "interop.md": "fragments, not a script: `model` undefined; needs npx and a served agent",
    "vocabulary.md": "fragments, not a script: `card` undefined",
}


# Runs a page's code as a module would, except that a top-level `await` works as in the
# asyncio REPL or a notebook (docs often show a coroutine's use that way).
RUNNER = """
import ast, asyncio, inspect, sys
code = compile(sys.stdin.read(), "<docs>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__"})
if inspect.iscoroutine(result):
    asyncio.run(result)
"""


def run_script(code: str, home: Path, timeout: float = 900) -> str:
    """Run `code` as a user would, in a fresh process and folder, and return its output."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "LAMAS_HOME": str(home),
        "OMP_WAIT_POLICY": "passive",
    }
    env.pop("LAMAS_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=code,
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(
            page,
            id=page.relative_to(DOCS).as_posix(),
            marks=[pytest.mark.model] if page.relative_to(DOCS).as_posix() in ON_THE_MODEL else [],
        )
        for page in pages_with_code()
    ],
)
def test_every_docs_example_runs(page: Path, tmp_path: Path) -> None:
    name = page.relative_to(DOCS).as_posix()
    if name in OUTSIDE:
        pytest.skip(OUTSIDE[name])
    output = run_script("\n\n".join(python_blocks(page)), tmp_path)
    if page.name == "quickstart.md":
        assert " settled: value " in output, output


def test_the_readme_quickstart_is_the_docs_quickstart_within_its_line_budgets() -> None:
    readme = python_blocks(ROOT / "README.md")[0]
    assert readme == python_blocks(DOCS / "quickstart.md")[0]
    lines = readme.rstrip("\n").split("\n")
    assert len(lines) <= 30, "the two-agent network, settled: at most 30 lines"
    # The agent with its tool and model, asked once: the first 15 lines.
    asked = next(i for i, line in enumerate(lines, 1) if "network.ask(" in line)
    assert asked <= 15, f"the first agent takes {asked} lines"
    assert "Orchestrator(" in readme
    assert "Books(" in readme
    assert "receipt(" in readme


def test_the_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.split("```")[1]
    assert "make demo" in first_block
    assert "make test" in first_block
    assert text.index("```python") < text.index("## Learn more")


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "api" / "index.html").is_file()
