"""Admission at the A2A edge: a full agent answers HTTP 503 with `Retry-After`.

An ASGI wrapper around an agent's A2A app: before a JSON-RPC request is taken (and so
before any task starts), `busy()` is asked; when it says how long to wait, the request
is refused with 503, a `Retry-After` header (whole seconds) and a JSON-RPC error saying
"busy, retry after N s". The agent card and anything that is not a POST pass through.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

BUSY_CODE = -32003
"""The JSON-RPC error code of a refusal for load (A2A leaves -32000..-32099 to servers)."""


def busy_edge(app: ASGIApp, busy: Callable[[], float | None]) -> ASGIApp:
    """`app`, refusing JSON-RPC requests with 503 + Retry-After while `busy()` says so."""

    async def edge(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            wait = busy()
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                body = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {
                            "code": BUSY_CODE,
                            "message": f"busy, retry after {seconds} s",
                            "data": {"retry_after": seconds},
                        },
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 503,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"retry-after", str(seconds).encode()),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return edge
