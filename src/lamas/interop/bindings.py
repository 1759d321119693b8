"""The three A2A protocol bindings of a served agent, over one request handler.

A2A v1.0 defines the same operations over JSON-RPC, HTTP+JSON (REST) and gRPC; the
a2a-sdk ships a front for each over one `RequestHandler`. A lamas agent offers all
three, built over the SAME handler object, so whatever guards that handler (access
checks, the task store, the executor) guards every binding alike:

- JSON-RPC at the agent's URL (`POST /`), HTTP+JSON at the same URL (`POST
  /message:send`, `GET /tasks/{id}`, ...): one Starlette app, one port;
- gRPC on a port of its own (HTTP/2; uvicorn speaks HTTP/1.1), `host:port` in the card;
- the card at `/.well-known/agent-card.json`, listing each in `supportedInterfaces`,
  served with `Cache-Control`, a weak `ETag` and `Last-Modified` (a client revalidates
  with either for a 304).
"""

from __future__ import annotations

import contextlib
import time
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from a2a.types import AgentCard as A2ACard
from a2a.types import AgentInterface
from a2a.utils.constants import PROTOCOL_VERSION_CURRENT, TransportProtocol
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lamas.errors import ConfigError

if TYPE_CHECKING:
    import grpc.aio
    from a2a.server.request_handlers import RequestHandler

JSONRPC = TransportProtocol.JSONRPC.value
HTTP_JSON = TransportProtocol.HTTP_JSON.value
GRPC = TransportProtocol.GRPC.value
BINDINGS = (JSONRPC, HTTP_JSON, GRPC)
"""Every binding lamas serves and speaks, as named in a card's `protocolBinding`."""

CARD_CACHE = "public, max-age=300"
"""How long a client may keep a card without asking again. Five minutes: a card changes
when its agent is redeployed, and the ETag makes asking again cheap."""


def interfaces(url: str, grpc_target: str | None = None) -> list[AgentInterface]:
    """The card's `supportedInterfaces`: JSON-RPC first (what a client without a
    preference picks), HTTP+JSON at the same URL, gRPC where it is served."""
    served = [(JSONRPC, url), (HTTP_JSON, url.rstrip("/"))]
    if grpc_target:
        served.append((GRPC, grpc_target))
    return [
        AgentInterface(
            url=where, protocol_binding=binding, protocol_version=PROTOCOL_VERSION_CURRENT
        )
        for binding, where in served
    ]


def http_routes(
    card: A2ACard, handler: RequestHandler, *, context_builder: Any = None
) -> list[BaseRoute]:
    """The card, JSON-RPC and HTTP+JSON routes over `handler` (in this order: the REST
    routes end with a catch-all tenant mount). `context_builder` tells callers apart the
    same way on both HTTP bindings (the access guard's caller, by key or by address)."""
    # The server side of the SDK (and the SQLAlchemy its task stores pull in) is imported
    # when serving, not by every client of `JSONRPC`, `interfaces` (`lamas ask` starts in
    # half the CPU time without it).
    from a2a.server.routes import (
        create_agent_card_routes,
        create_jsonrpc_routes,
        create_rest_routes,
    )

    return [
        *(_last_modified(r) for r in create_agent_card_routes(card, cache_control=CARD_CACHE)),
        *create_jsonrpc_routes(handler, rpc_url="/", context_builder=context_builder),
        *create_rest_routes(handler, context_builder=context_builder),
    ]


def _last_modified(route: BaseRoute) -> BaseRoute:
    """The SDK's card route with `Last-Modified` beside its ETag: the card of a served
    agent does not change while it is served, so it dates from when the app was made (a
    client without ETag support revalidates with If-Modified-Since for a 304)."""
    if not isinstance(route, Route):
        return route
    made = int(time.time())
    stamp = formatdate(made, usegmt=True)
    inner = route.endpoint

    async def endpoint(request: Request) -> Response:
        since = request.headers.get("if-modified-since")
        if since and "if-none-match" not in request.headers and _not_after(since, made):
            return Response(
                status_code=304, headers={"Last-Modified": stamp, "Cache-Control": CARD_CACHE}
            )
        response: Response = await inner(request)
        response.headers["Last-Modified"] = stamp
        return response

    return Route(route.path, endpoint, methods=["GET"])


def _not_after(header: str, made: int) -> bool:
    """Whether an If-Modified-Since date is at or after `made` (unreadable: no)."""
    try:
        return parsedate_to_datetime(header).timestamp() >= made
    except (TypeError, ValueError):
        return False


class GrpcBinding:
    """The gRPC front of an agent: a `grpc.aio` server on its own port.

    The port is taken when the binding is made (`target` is then known, for the card);
    `start(handler)` serves the handler the HTTP routes serve.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        import grpc.aio

        # Without so_reuseport=0, gRPC binds a port another server holds and the two
        # share its traffic: a second `lamas serve` on a taken port must fail instead.
        self.server: grpc.aio.Server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        try:
            bound = self.server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as error:
            bound, why = 0, f": {error}"
        else:
            why = ""
        if not bound:
            raise ConfigError(f"cannot listen for gRPC on {host}:{port}{why}; is it taken?")
        self.target = f"{host}:{bound}"

    async def start(self, handler: RequestHandler) -> None:
        import a2a.types.a2a_pb2_grpc as a2a_grpc
        from a2a.server.request_handlers import GrpcHandler

        servicer = GrpcHandler(handler)
        a2a_grpc.add_A2AServiceServicer_to_server(servicer, self.server)  # type: ignore[no-untyped-call]
        await self.server.start()

    async def stop(self, grace: float = 1.0) -> None:
        with contextlib.suppress(Exception):  # already stopped, or never started
            await self.server.stop(grace)
