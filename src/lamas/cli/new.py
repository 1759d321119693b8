"""`lamas new agent NAME`: a folder with one agent (one tool, a model) and its network file.

The files are `lamas/templates/agent/*.tmpl`, filled in with string.Template; `examples/hello/`
is the same template made with `lamas new agent forecaster --entity meteo` (a test keeps
them equal), so the example a newcomer reads is the one they get.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from lamas.errors import ConfigError
from lamas.protocol.messages import AGENT_ID_PATTERN

FILES = ("agent.py", "network.yaml")
NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


def scaffold(name: str, folder: Path, *, entity: str | None = None) -> list[Path]:
    """Write the template for agent `name` into `folder` (which must not hold its files)."""
    if not NAME.match(name) or not re.match(AGENT_ID_PATTERN, name):
        raise ConfigError(
            f"agent name {name!r}: use lower-case letters, digits and '-', starting with a "
            "letter (it is the agent's id, its skill's name and a Python function's name)"
        )
    existing = [folder / f for f in FILES if (folder / f).exists()]
    if existing:
        raise ConfigError(f"{existing[0]} exists already; choose another folder (nothing written)")
    values = {
        "id": name,
        "func": name.replace("-", "_"),
        "title": name.replace("-", " ").title(),
        "entity": entity or name,
        "folder": folder.as_posix(),
    }
    template = resources.files("lamas") / "templates" / "agent"
    texts = {
        file: Template((template / f"{file}.tmpl").read_text(encoding="utf-8")).substitute(values)
        for file in FILES
    }
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file, text in texts.items():
        (folder / file).write_text(text, encoding="utf-8")
        written.append(folder / file)
    return written
