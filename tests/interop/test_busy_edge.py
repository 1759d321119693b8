"""Admission at the A2A edge: a full agent answers 503 + Retry-After before any task."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from lamas.interop.edge import BUSY_CODE, busy_edge

pytestmark = pytest.mark.asyncio


async def test_a_busy_edge_refuses_with_503_and_retry_after_and_lets_the_card_through() -> None:
    taken: list[str] = []

    async def rpc(request: object) -> JSONResponse:
        taken.append("rpc")
        return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {}})

    async def card(request: object) -> JSONResponse:
        return JSONResponse({"name": "orchestrator"})

    app = Starlette(
        routes=[Route("/", rpc, methods=["POST"]), Route("/card", card, methods=["GET"])]
    )
    wait: list[float | None] = [2.2]
    edge = busy_edge(app, lambda: wait[0])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=edge), base_url="http://test"
    ) as client:
        refused = await client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "x"})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"  # whole seconds, rounded up
        assert refused.json()["error"]["code"] == BUSY_CODE
        assert refused.json()["error"]["message"] == "busy, retry after 3 s"
        assert taken == []  # nothing reached the agent
        assert (await client.get("/card")).status_code == 200
        wait[0] = None
        assert (await client.post("/", json={})).status_code == 200
        assert taken == ["rpc"]
