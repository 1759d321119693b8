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
# The entity and the folder are written into Python and YAML source: plain words only,
# so that no value can end a string or a docstring and become code.
ENTITY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
PLAIN_PATH = re.compile(r"^[\w./ -]{1,200}$")


def scaffold(name: str, folder: Path, *, entity: str | None = None) -> list[Path]:
    """Write the template for agent `name` into `folder` (which must not hold its files)."""
    if not NAME.match(name) or not re.match(AGENT_ID_PATTERN, name):
        raise ConfigError(
            f"agent name {name!r}: use lower-case letters, digits and '-', starting with a "
            "letter (it is the agent's id, its skill's name and a Python function's name)"
        )
    if entity is not None and not ENTITY.match(entity):
        raise ConfigError(
            f"entity {entity!r}: use lower-case letters, digits and '_.-', starting with a "
            "letter or digit (it names who is paid, in the card and the ledger)"
        )
    existing = [folder / f for f in FILES if (folder / f).exists() or (folder / f).is_symlink()]
    if existing:
        raise ConfigError(f"{existing[0]} exists already; choose another folder (nothing written)")
    shown = folder.as_posix()
    values = {
        "id": name,
        "func": name.replace("-", "_"),
        "title": name.replace("-", " ").title(),
        "entity": entity or name,
        "folder": shown if PLAIN_PATH.match(shown) else "FOLDER",
    }
    template = resources.files("lamas") / "templates" / "agent"
    texts = {
        file: Template((template / f"{file}.tmpl").read_text(encoding="utf-8")).substitute(values)
        for file in FILES
    }
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for file, text in texts.items():
            # "x": created here or not at all; a file, or a link to one, that appeared
            # since the check above is never written through.
            with (folder / file).open("x", encoding="utf-8") as out:
                out.write(text)
            written.append(folder / file)
    except FileExistsError as error:
        for path in written:
            path.unlink()
        raise ConfigError(f"{error.filename} exists already; nothing written") from None
    return written
