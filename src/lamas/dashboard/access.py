"""Who may see the dashboard, and what its query parameters must be.

The dashboard shows every task, instruction and payout in the ledger. On loopback (the
default) only this machine can reach it; bound to any other address it needs a token
(`lamas dashboard --token`, or `LAMAS_DASHBOARD_TOKEN`), which `TokenGate` checks on
every request: `Authorization: Bearer <token>`, or `?token=<token>` once in a browser
(answered with an HttpOnly, SameSite=Strict cookie, and a redirect to the same page
without the token in its URL). Anything else gets 401.

`whole(params, name, default)` reads a whole-number query parameter or raises
`BadParameter`, which the app answers with 400 and the message (it was a 500).
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lamas.errors import ConfigError, InputError

TOKEN_ENV = "LAMAS_DASHBOARD_TOKEN"
COOKIE = "lamas_dashboard"
MIN_TOKEN_CHARS = 16


class BadParameter(InputError):
    """A query parameter is not what the page needs (answered with 400)."""


def whole(params: QueryParams, name: str, default: int, *, minimum: int = 0) -> int:
    """The whole-number query parameter `name` (`default` when absent or empty)."""
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name} must be a whole number, got {raw[:40]!r}") from None
    if value < minimum:
        raise BadParameter(f"{name} must be at least {minimum}, got {value}")
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token, or with a guessable one."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"the dashboard token must be at least {MIN_TOKEN_CHARS} characters")
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"the dashboard on {host} would show the whole ledger to anyone who can reach it: "
            f"give it a token (--token, or ${TOKEN_ENV}), or listen on 127.0.0.1"
        )


class TokenGate:
    """Lets a request through only with the token (see the module's docstring)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if (scheme.lower() == "bearer" and self._ok(bearer.strip())) or self._ok(
            request.cookies.get(COOKIE)
        ):
            await self.app(scope, receive, send)
            return
        response: Response
        if self._ok(request.query_params.get("token")):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, self.token.decode(), httponly=True, samesite="strict")
        else:
            response = PlainTextResponse(
                "this dashboard needs its token: open it with ?token=<token> once, or send "
                "'Authorization: Bearer <token>'",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="lamas dashboard"'},
            )
        await response(scope, receive, send)
