"""Every code example of the docs runs (`make test`), and the README's quickstart is the
docs' quickstart, within the line budgets the README promises.

A page's Python blocks run as one script, then its shell blocks as one bash script, in a
fresh folder and $LAMAS_HOME, with `lamas` on the PATH running this checkout: as a reader
would type them, from a checkout (`examples/` is there). Two things stand in for the
reader's own eyes: a task id in a command (`--task 019a`) is the task the page made last,
and each port a command listens on is a free one. A command ending in `&` (a server) runs
in the background until the page is done; the next command waits for its port. A block
marked `<!-- not-run: why -->` is reported as skipped with its reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support.docs_examples import (
    DOCS,
    ROOT,
    Block,
    blocks,
    not_run_blocks,
    pages_with_code,
    python_blocks,
    shell_blocks,
)

# What a page's output must show, beyond every command succeeding.
EXPECT = {
    "quickstart.md": [" settled: value ", "settlement: value"],
    "tutorials/serve-a2a.md": ["settled: value", "forecaster serving A2A at"],
    "tutorials/ledger.md": ["ledger ok", "payouts, ", "bill for meteo"],
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

# Before a page's shell blocks: stop on the first failing command, stop the servers it
# started when done, and the two stand-ins (a server's port, the last task's id).
PRELUDE = r"""
set -euo pipefail
exec >>"$LAMAS_DOCS_LOG" 2>&1
__jobs=()
trap 'for p in ${__jobs[@]+"${__jobs[@]}"}; do kill "$p" 2>/dev/null || true; done' EXIT
__wait_port() {  # PORT PID: until the server listens; fails at once if it stopped
  for _ in $(seq 2400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "the server for port $1 stopped" >&2; return 1; }
    sleep 0.25
  done
  echo "nothing listens on port $1" >&2; return 1
}
__last_task() { grep -oE 'task [0-9a-f]{32}' "$LAMAS_DOCS_LOG" | tail -1 | cut -c6-; }
"""
TASK_ID = re.compile(r"(--task |compare |audit )[0-9a-f]{4,32}\b")
PORT = re.compile(r"--(?:port|grpc-port|http) (\d{4,5})\b")
BACKGROUND = re.compile(r"^(?P<command>.*[^&])&\s*(?:#.*)?$")
LAMAS = """#!/bin/sh
exec "{python}" -c "import sys; from lamas.cli.main import main; sys.argv[0] = 'lamas'; \
sys.exit(main())" "$@"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def shell_script(code: str) -> str:
    """The page's shell code with its stand-ins: free ports, the last task, servers in
    the background waited for."""
    for port in sorted(set(PORT.findall(code))):
        code = re.sub(rf"\b{port}\b", str(free_port()), code)
    code = TASK_ID.sub(r'\1"$(__last_task)"', code.replace("\\\n", " "))
    lines = []
    for line in code.splitlines():
        background = BACKGROUND.match(line)
        if background:
            ports = PORT.findall(line)
            line = f"{background['command']}& __jobs+=($!)"
            if ports:
                line += f"; __wait_port {ports[0]} $!"
        lines.append(line)
    return PRELUDE + "\n".join(lines) + "\n"


class Reader:
    """A reader's folder and $LAMAS_HOME, and `lamas` on their PATH (this checkout)."""

    def __init__(self, tmp: Path) -> None:
        self.work = tmp / "work"
        self.work.mkdir()
        (self.work / "examples").symlink_to(ROOT / "examples")
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "lamas").write_text(LAMAS.format(python=sys.executable), encoding="utf-8")
        (bin_dir / "lamas").chmod(0o755)
        self.log = tmp / "output.log"
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT / "src"),
            "LAMAS_HOME": str(tmp / "home"),
            "LAMAS_DOCS_LOG": str(self.log),
            "OMP_WAIT_POLICY": "passive",
        }
        for name in ("LAMAS_DATABASE_URL", "LAMAS_MODEL"):
            self.env.pop(name, None)

    def python(self, code: str, timeout: float = 900) -> str:
        done = subprocess.run(
            [sys.executable, "-c", RUNNER],
            input=code,
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
        with self.log.open("a", encoding="utf-8") as log:
            log.write(done.stdout)
        return done.stdout

    def shell(self, code: str, timeout: float = 900) -> str:
        # Its own session: whatever happens to the script (a timeout, a failure), every
        # server it started is stopped with it, and nothing else is.
        with subprocess.Popen(
            ["bash", "-c", shell_script(code)],
            stdin=subprocess.DEVNULL,  # `lamas mcp` on stdio ends at once
            cwd=self.work,
            env=self.env,
            start_new_session=True,
        ) as script:
            try:
                returncode = script.wait(timeout=timeout)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(script.pid, signal.SIGKILL)
        output = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        assert returncode == 0, f"exit {returncode}; output:\n{output[-6000:]}"
        return output


def marks(page: Path) -> list[pytest.MarkDecorator]:
    code = "\n".join(b.code for b in blocks(page) if b.not_run is None)
    found = []
    if "smollm2-135m" in code or "LocalModel(" in code:
        found.append(pytest.mark.model)
    if "--runtime ray" in code:
        found.append(pytest.mark.ray)
    return found


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, id=page.relative_to(DOCS).as_posix(), marks=marks(page))
        for page in pages_with_code()
        if python_blocks(page) or shell_blocks(page)
    ],
)
def test_every_docs_example_runs(page: Path, tmp_path: Path) -> None:
    reader = Reader(tmp_path)
    output = ""
    if python_blocks(page):
        output = reader.python("\n\n".join(python_blocks(page)))
    if shell_blocks(page):
        output = reader.shell("\n".join(shell_blocks(page)))
    for expected in EXPECT.get(page.relative_to(DOCS).as_posix(), []):
        assert expected in output, output[-6000:]


@pytest.mark.parametrize("block", [pytest.param(b, id=b.name) for b in not_run_blocks()])
def test_blocks_not_run_say_why(block: Block) -> None:
    """Each block the tests do not run shows up in the test report, with its reason."""
    reason = block.not_run
    assert reason is not None
    assert len(reason) > 15, f"{block.name}: say why it cannot run"
    pytest.skip(f"{block.name} not run: {reason}")


def test_every_not_run_mark_stands_before_a_code_block() -> None:
    """A mark that names no block (a typo, a block moved) would leave a block unmarked
    or say nothing: each one must be counted by the parser. (A mark is a line of its own;
    prose may quote one.)"""
    marked = sum(
        len(re.findall(r"^\s*<!-- not-run:", p.read_text(encoding="utf-8"), re.M))
        for p in DOCS.rglob("*.md")
    )
    assert marked == len(not_run_blocks())


# Fences that hold data or output, not code to run: a network file's fragment, a config,
# what a command printed. Any other language (`sh`, `console`, `py`...) fails the test
# below, so that no block of code is left out without a word.
SHOWN_ONLY = {"yaml", "json", "text", ""}
FENCE = re.compile(r"^\s*```(\w*)\s*$", re.M)


def test_no_code_block_is_left_out_silently() -> None:
    for page in DOCS.rglob("*.md"):
        openings = FENCE.findall(page.read_text(encoding="utf-8"))[::2]
        unknown = set(openings) - SHOWN_ONLY - {"python", "bash"}
        assert not unknown, f"{page}: ```{unknown.pop()} blocks are neither run nor data"


def test_the_shell_stand_ins() -> None:
    script = shell_script(
        "lamas serve x.yaml --port 8801 &   # a server\n"
        "lamas ask http://127.0.0.1:8801/ hi && echo ok\n"
        "lamas ledger show --task 019a\n"
    )
    body = script.removeprefix(PRELUDE)
    assert "8801" not in body
    port = PORT.findall(body)[0]
    assert f"--port {port} & __jobs+=($!); __wait_port {port} $!" in body
    assert f"http://127.0.0.1:{port}/ hi && echo ok" in body
    assert '--task "$(__last_task)"' in body


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
