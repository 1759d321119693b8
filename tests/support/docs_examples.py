"""The code examples of the README and the docs, as the tests run them.

Each page's ```python blocks are one script, in order (a later block may use what an
earlier one defined), with pymdownx.snippets lines (`--8<-- "path"`) replaced by the
file they include, as the site shows them. Its ```bash blocks are one shell script, in
order, run after the Python one in the same folder and $LAMAS_HOME (so a page's
commands can read the ledger its Python wrote).

A block that cannot run on a test machine (a GPU, an outside server, the internet) is
preceded by an HTML comment, invisible on the site, that says why:

    <!-- not-run: needs a GPU and libraries lamas does not install -->

and the tests report it as skipped with that reason; every other block runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUNNABLE = ("python", "bash")
BLOCK = re.compile(
    r"(?:^<!-- not-run: (?P<why>[^\n]*?) -->\n)?^```(?P<lang>python|bash)\n(?P<code>.*?)^```",
    re.S | re.M,
)
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.M)


@dataclass(frozen=True)
class Block:
    """One code block of a page: its language, its code and, when it is not run, why."""

    page: Path
    index: int
    lang: str
    code: str
    not_run: str | None

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}#{self.index}-{self.lang}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [
        Block(
            page,
            index,
            match["lang"],
            SNIPPET.sub(lambda m: (ROOT / m.group(1)).read_text(encoding="utf-8"), match["code"]),
            match["why"],
        )
        for index, match in enumerate(BLOCK.finditer(text), 1)
    ]


def python_blocks(page: Path) -> list[str]:
    """The page's Python blocks that run (all but the `not-run` ones)."""
    return [b.code for b in blocks(page) if b.lang == "python" and b.not_run is None]


def shell_blocks(page: Path) -> list[str]:
    """The page's shell blocks that run (all but the `not-run` ones)."""
    return [b.code for b in blocks(page) if b.lang == "bash" and b.not_run is None]


def pages_with_code() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if blocks(p))


def not_run_blocks() -> list[Block]:
    return [b for p in pages_with_code() for b in blocks(p) if b.not_run is not None]
