"""What every benchmark does at the end: say which targets were met and write its JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def finish(name: str, result: dict[str, Any], checks: dict[str, bool] | None = None) -> int:
    """Print each target's verdict, write `results/<name>-latest.json` and a time-stamped
    copy (so runs can be compared), and return the exit code: 1 if a target was missed."""
    checks = checks or {}
    for key, ok in checks.items():
        print(f"target {key}: {'met' if ok else 'MISSED'}")
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = json.dumps(result, indent=2, default=str) + "\n"
    for path in (RESULTS / f"{name}-{stamp}.json", RESULTS / f"{name}-latest.json"):
        path.write_text(text)
    print(f"wrote {RESULTS / f'{name}-latest.json'}")
    return 0 if all(checks.values()) else 1
