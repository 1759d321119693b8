"""The `lamas` command's entry point (`[project.scripts]`): `lamas ask` starts light.

`lamas ask` is what a user runs for one question, possibly hundreds at once: it loads
only its own module (`lamas.cli.ask`). Every other command loads the whole command line
(`lamas.cli.app`). `from lamas.cli.main import app` still gives the whole typer app.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    if sys.argv[1:2] == ["ask"]:
        from lamas.cli.ask import ask_alone

        ask_alone(sys.argv[2:])
        return
    from lamas.cli.app import main as everything

    everything()


def __getattr__(name: str) -> Any:
    """`app` and the rest of `lamas.cli.app`, loaded when first asked for (the import
    system's own probes, such as `__path__`, are not a reason to load it)."""
    if name.startswith("__"):
        raise AttributeError(name)
    import lamas.cli.app

    return getattr(lamas.cli.app, name)
