"""What an A2A node checks of an HTTP request before any binding parses it.

An ASGI middleware in front of the node's app:

- a request body over `max_body_bytes` is refused with HTTP 413 (a declared length at
  once, an undeclared one as soon as the running count passes the limit): a 50 MB body is
  no longer read and parsed;
- a body that is not UTF-8 gets the JSON-RPC parse error (-32700), not "internal error";
- on an agent that is not public, a call with no credential at all gets HTTP 401 with
  `WWW-Authenticate: Bearer` before its body is read. Whether a credential is *valid* is
  for the guard (`interop/guard.py`), which every binding goes through.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lamas.interop.limits import DEFAULT_MAX_BODY_BYTES


class Front:
    """The checks above, in front of `app`."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, public: bool
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.public = public
        # The wrapped app's state (its request handler, for the gRPC front) stays reachable.
        self.state = getattr(app, "state", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        if not self.public and "authorization" not in headers:
            await _refuse(
                send,
                401,
                -32030,
                "this agent is not public: send 'Authorization: Bearer <JWT>' signed with "
                "your agent's registered key (see the card's securitySchemes)",
                extra=[(b"www-authenticate", b'Bearer realm="lamas"')],
            )
            return
        declared = headers.get("content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send, int(declared))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send, size)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            await _refuse(send, 200, -32700, f"the request body is not UTF-8: {error}")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, send: Send, size: int) -> None:
        await _refuse(
            send,
            413,
            -32600,
            f"the request body is over {self.max_body_bytes:,} bytes ({size:,} so far); "
            "send less, or raise lamas serve --max-body-bytes",
        )


def _replay(body: bytes, then: Receive) -> Receive:
    """The body once, then the real channel (an SSE response waits on it for a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _refuse(
    send: Send, status: int, code: int, text: str, *, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    error: dict[str, Any] = {"code": code, "message": text}
    payload = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
