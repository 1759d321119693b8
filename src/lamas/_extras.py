"""Optional features and the extra that installs each: a missing one is named, not guessed.

The core package installs pydantic, the CLI, SQLAlchemy and the protocol; everything
else is an extra (`pip install 'lamas[local]'`). Import sites of optional features call
`need(module, extra, feature)` first, so a missing library is a `MissingExtra` that says
which extra to install instead of a bare `ModuleNotFoundError` from deep inside.
"""

from __future__ import annotations

import importlib.util

from lamas.errors import LamasError

EXTRAS: dict[str, str] = {
    "local": "the embedded model runtime (xllamacpp)",
    "openai": "OpenAI-compatible model servers (openai)",
    "embed": "sentence embeddings (torch, sentence-transformers, MiniLM)",
    "a2a": "serving and calling agents over A2A (a2a-sdk, Starlette, uvicorn)",
    "dashboard": "the web dashboard (Starlette, uvicorn, Jinja2)",
    "privacy": "differential privacy and homomorphic sums (OpenDP, phe)",
    "telemetry": "OpenTelemetry tracing",
    "ray": "the Ray runtime",
    "postgres": "PostgreSQL stores (psycopg)",
}


class MissingExtra(LamasError, ImportError):
    """An optional feature was used without the extra that installs its libraries."""

    def __init__(self, module: str, extra: str, feature: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"{feature} needs the {module!r} package, which is not installed: "
            f"pip install 'lamas[{extra}]' (or 'lamas[all]')"
        )


def need(module: str, extra: str, feature: str | None = None) -> None:
    """Raise `MissingExtra` unless `module` can be imported."""
    if extra not in EXTRAS:
        raise ValueError(f"no extra {extra!r}; the extras are {', '.join(EXTRAS)}")
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtra(module, extra, feature or EXTRAS[extra])
