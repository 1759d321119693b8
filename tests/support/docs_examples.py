"""The code examples of the README and the docs, as the tests run them.

Each page's ```python blocks are one script, in order (a later block may use what an
earlier one defined), with pymdownx.snippets lines (`--8<-- "path"`) replaced by the
file they include, as the site shows them.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.M)


def python_blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [
        SNIPPET.sub(lambda m: (ROOT / m.group(1)).read_text(encoding="utf-8"), block)
        for block in BLOCK.findall(text)
    ]


def pages_with_code() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if python_blocks(p))
