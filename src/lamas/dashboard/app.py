"""The dashboard's web app: Starlette routes over the ledger's read model, pages rendered on
the server with Jinja2, and server-sent events for the Live page.

Pages: /tasks (filter, search), /tasks/{id} (plan DAG, message sequence, consensus, privacy
audit, credit by rule), /agents/{id}, /network (topology, cards, success rate, load,
earnings), /economy (revenue and payouts over time, CTR/CVR, ledger verification), /live.
Every page is read from the ledger alone (plus the network files, for cards and topology).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from lamas.dashboard import svg
from lamas.dashboard.access import BadParameter, TokenGate, whole
from lamas.dashboard.index import LedgerIndex
from lamas.dashboard.network_view import NetworkView
from lamas.dashboard.taskview import TaskDetail, read_task
from lamas.economy.ledger import Ledger

HERE = Path(__file__).parent
PAGE_SIZE = 100
LIVE_POLL = 0.5  # seconds between looks at the ledger's tail for the Live page
CREDIT_RULES = ("shapley", "equal", "last touch")


class Dashboard:
    """What the pages are made from: the ledger, its index and the network's cards."""

    def __init__(self, ledger: Ledger, network: NetworkView | None = None) -> None:
        self.ledger = ledger
        self.index = LedgerIndex(ledger)
        self.network = network or NetworkView()
        self._traffic: tuple[int, Any] | None = None

    def traffic(self) -> Any:
        """`read_traffic` over the whole ledger, recomputed only when traffic entries were
        added since; None when the ledger holds none."""
        from lamas.economy.attribution import read_traffic

        if not self.index.traffic_outcomes:
            return None
        version = self.index.traffic_version
        if self._traffic is None or self._traffic[0] != version:
            self._traffic = (version, read_traffic(self.ledger))
        return self._traffic[1]


def create_app(
    ledger: Ledger,
    *,
    networks: Iterable[Path] = (),
    poll: float = LIVE_POLL,
    token: str | None = None,
) -> ASGIApp:
    """The dashboard over `ledger`; `networks` are network files (cards, topology). With
    `token`, every request must show it (`dashboard/access.py`)."""
    board = Dashboard(ledger, NetworkView.load(networks))
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["money"] = _money
    templates.env.globals["agent_href"] = svg.agent_href

    def page(request: Request, name: str, code: int = 200, **context: Any) -> Response:
        context = {"head": board.index.last, **context}
        return templates.TemplateResponse(request, name, context, status_code=code)

    def tasks(request: Request) -> Response:
        board.index.refresh()
        params = request.query_params
        number = whole(params, "page", 1, minimum=1)
        shown, matched = board.index.task_list(
            query=params.get("q", ""),
            status=params.get("status", ""),
            agent=params.get("agent", ""),
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        return page(
            request,
            "tasks.html",
            tasks=shown,
            matched=matched,
            page=number,
            pages=max((matched + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            q=params.get("q", ""),
            status=params.get("status", ""),
            agent=params.get("agent", ""),
            statuses=board.index.statuses(),
        )

    def task(request: Request) -> Response:
        board.index.refresh()
        detail = read_task(ledger, request.path_params["task_id"])
        if detail is None:
            what = f"task {request.path_params['task_id']}"
            return page(request, "missing.html", 404, what=what)
        plan_svg, sequence_svg, credit_svg = _task_drawings(detail)
        return page(
            request,
            "task.html",
            t=detail,
            # Vault entries name the agent only; its card names the entity behind it.
            entity_of={a: c.entity for a, c in board.network.cards.items()},
            plan_svg=plan_svg,
            sequence_svg=sequence_svg,
            credit_svg=credit_svg,
        )

    def agent(request: Request) -> Response:
        board.index.refresh()
        agent_id = request.path_params["agent_id"]
        stats = board.index.agents.get(agent_id)
        card = board.network.cards.get(agent_id)
        if stats is None and card is None:
            return page(request, "missing.html", 404, what=f"agent {agent_id}")
        recent = [board.index.tasks[t] for t in list(stats.tasks)[-20:]] if stats else []
        return page(
            request,
            "agent.html",
            id=agent_id,
            stats=stats,
            card=card,
            recent=recent,
            homes=board.network.cards_of(agent_id),
        )

    def network(request: Request) -> Response:
        board.index.refresh()
        agents = dict(board.index.agents)
        seen = dict(board.index.edges)
        # One drawing and table per network file: agents of two networks that share an id
        # (each has its `personal`) are two agents, never one tangle.
        sections = []
        for part in board.network.parts:
            nodes = [(a, card.entity) for a, card in part.cards.items()]
            drawing = svg.topology(nodes, board.network.edges(seen, part), hub=part.hub)
            sections.append((part.name, drawing, nodes, part.cards))
        elsewhere = [a for a in agents if a not in board.network.cards]
        if elsewhere or not sections:  # seen in the ledger, in no network file given
            nodes = [(a, agents[a].entity or "?") for a in elsewhere]
            edges = {k: v for k, v in seen.items() if k[0] in elsewhere and k[1] in elsewhere}
            name = "in the ledger, in no network file" if sections else "from the ledger"
            sections.append((name, svg.topology(nodes, edges), nodes, {}))
        return page(request, "network.html", sections=sections, agents=agents, view=board.network)

    def economy(request: Request) -> Response:
        board.index.refresh()
        full = board.index.reverify() if request.query_params.get("verify") == "full" else None
        payouts = {entity: _over_time(hours) for entity, hours in board.index.payouts.items()}
        totals = {
            entity: sum(days.values(), Decimal(0)) for entity, days in board.index.payouts.items()
        }
        revenue = _over_time(board.index.revenue)
        try:
            traffic, traffic_error = board.traffic(), None
        except Exception as error:  # a broken traffic record must not hide the page
            traffic, traffic_error = None, str(error)
        return page(
            request,
            "economy.html",
            payout_chart=svg.cumulative_lines(payouts),
            revenue_chart=svg.cumulative_lines({"revenue (outcomes)": revenue}),
            totals=dict(sorted(totals.items(), key=lambda kv: -kv[1])),
            revenue_total=sum(board.index.revenue.values(), Decimal(0)),
            currencies=sorted(c for c in board.index.currencies if c),
            traffic=traffic,
            traffic_error=traffic_error,
            report=board.index.verification(),
            full=full,
            verified_at=board.index.verified_at,
            kinds=dict(sorted(board.index.kinds.items())),
        )

    def live(request: Request) -> Response:
        board.index.refresh()
        recent = board.index.changed_since(0)[-30:]
        return page(request, "live.html", tasks=list(reversed(recent)))

    async def events(request: Request) -> Response:
        from sse_starlette import EventSourceResponse

        after = whole(request.query_params, "after", 0)

        async def stream() -> AsyncIterator[dict[str, str]]:
            seen = after
            while True:
                await asyncio.to_thread(board.index.refresh)
                head = board.index.last
                if head > seen:
                    for summary in board.index.changed_since(seen):
                        yield {
                            "event": "task",
                            "id": str(head),
                            "data": json.dumps(summary.as_json()),
                        }
                    seen = head
                if await request.is_disconnected():
                    return
                await asyncio.sleep(poll)

        return EventSourceResponse(stream(), ping=15)

    def api_tasks(request: Request) -> Response:
        board.index.refresh()
        shown, matched = board.index.task_list(limit=PAGE_SIZE)
        return JSONResponse({"matched": matched, "tasks": [t.as_json() for t in shown]})

    def home(request: Request) -> Response:
        return RedirectResponse("/tasks")

    routes = [
        Route("/", home),
        Route("/tasks", tasks),
        Route("/tasks/{task_id:path}", task),
        Route("/agents/{agent_id:path}", agent),
        Route("/network", network),
        Route("/economy", economy),
        Route("/live", live),
        Route("/events", events),
        Route("/api/tasks", api_tasks),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Read the ledger before the first request, not during it (100,000 entries: seconds).
        await asyncio.to_thread(board.index.refresh)
        yield

    async def bad_parameter(request: Request, error: Exception) -> Response:
        return PlainTextResponse(f"bad request: {error}", status_code=400)

    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={BadParameter: bad_parameter}
    )
    app.state.dashboard = board
    return app if token is None else TokenGate(app, token)


def _task_drawings(detail: TaskDetail) -> tuple[str, str, str]:
    """The task page's pictures: plan, messages, credit."""
    plan = svg.dag([(s.id, s.capability, s.depends_on, s.agent, s.ok) for s in detail.steps])
    participants = list(
        dict.fromkeys(name for m in detail.messages for name in (m.sender, m.recipient))
    )
    messages = svg.sequence(detail.sequence_rows(), participants)
    credit = svg.grouped_bars(
        [
            (row.agent, {"shapley": row.shapley, "equal": row.equal, "last touch": row.last_touch})
            for row in detail.credit
        ],
        CREDIT_RULES,
    )
    return plan, messages, credit


def _over_time(hours: dict[str, Decimal]) -> dict[str, float]:
    """Amounts by hour ("YYYY-MM-DDTHH"), summed into days when they span over two days."""
    if len({hour[:10] for hour in hours}) <= 2:
        return {hour: float(amount) for hour, amount in hours.items()}
    days: dict[str, float] = {}
    for hour, amount in hours.items():
        days[hour[:10]] = days.get(hour[:10], 0.0) + float(amount)
    return days


def _money(value: Any) -> str:
    if value is None:
        return "-"
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"
