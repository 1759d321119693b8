"""The registry: agents publish signed cards, orchestrators discover them by capability.

`registry_app(trust)` is a small Starlette service:

- `POST /agents` with a `Registration` (card signed by its entity, agent key vouched for
  by it): checked against the trusted entity keys, then listed; 400 with the reason if
  it does not check. Publishing again replaces the entry (a restarted agent, a new URL).
- `GET /agents` lists the agents answering health checks (`?capability=ticket.search`
  only those offering it; `?all=1` the dropped ones too, marked `healthy: false`).
- `GET /agents/{id}` one entry; `GET /health` the registry's own health.

Each agent is health-checked on its own schedule: its card is fetched from its URL
`interval` seconds after its previous check ended; an agent that fails `misses` checks
in a row is dropped from discovery, and comes back as soon as a check succeeds again. A
check fails when the agent cannot be reached or does not answer within `CHECK_TIMEOUT`
seconds: a slow answer is an answer (on a loaded machine, live agents that took more
than the interval to answer were dropped, and tasks failed with "no agent offers ...").
Because each agent has its own watcher, a slow live agent delays no one else's checks:
a dead agent (its connection refused at once) is dropped about `misses * interval`
seconds after it died, however long another agent takes to answer. (One round of
checks for all agents at once waited for the slowest: up to `CHECK_TIMEOUT` per miss.)
`RegistryClient` is the other side: publish, discover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lamas.errors import AgentUnreachable, InputError, RemoteError
from lamas.interop.keys import Registration, admit
from lamas.security.signing import Directory

log = logging.getLogger(__name__)

CARD_PATH = ".well-known/agent-card.json"


@dataclass
class Entry:
    registration: Registration
    healthy: bool = True
    misses: int = 0
    checked_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.registration.model_dump(mode="json"),
            "healthy": self.healthy,
            "misses": self.misses,
        }


CHECK_TIMEOUT = 10.0
"""Seconds an agent has to answer one health check (see the module's docstring)."""


class Registry:
    """The registry's state: entries by agent id, and the health checks that update them."""

    def __init__(self, trust: Directory, *, interval: float = 2.0, misses: int = 2) -> None:
        self.trust = trust
        self.interval = interval
        self.misses = misses
        self.entries: dict[str, Entry] = {}

    def publish(self, registration: Registration) -> Entry:
        """List `registration` once its signatures check (`ForgedCard` otherwise)."""
        card = registration.card
        if not card.url:
            raise InputError(f"agent {card.id!r} published a card without a url to reach it at")
        admit(self.trust, registration)
        entry = self.entries[card.id] = Entry(registration)
        log.info("registered %s at %s", card.id, card.url)
        return entry

    def discover(self, capability: str | None = None, *, every: bool = False) -> list[Entry]:
        return [
            e
            for e in self.entries.values()
            if (every or e.healthy)
            and (capability is None or e.registration.card.skill(capability) is not None)
        ]

    async def check(self, http: httpx.AsyncClient) -> None:
        """One check of every agent, all at once (each recorded as soon as it answers)."""
        await asyncio.gather(*(self.check_one(http, e) for e in list(self.entries.values())))

    async def check_one(self, http: httpx.AsyncClient, entry: Entry) -> None:
        """Check one agent and record the outcome (unless it published again meanwhile:
        a new registration starts afresh)."""
        answered = await self._answers(http, entry)
        agent = entry.registration.card.id
        if self.entries.get(agent) is not entry:
            return
        entry.checked_at = time.time()
        if answered:
            if not entry.healthy:
                log.info("%s answers again: back in discovery", agent)
            entry.healthy, entry.misses = True, 0
            return
        entry.misses += 1
        if entry.healthy and entry.misses >= self.misses:
            log.warning("%s stopped answering: dropped", agent)
            entry.healthy = False

    async def run_checks(self) -> None:
        """A watcher per agent, each on its own schedule (see the module's docstring);
        agents published later get theirs within an interval."""
        watchers: dict[str, asyncio.Task[None]] = {}
        async with httpx.AsyncClient(timeout=max(CHECK_TIMEOUT, self.interval)) as http:
            try:
                while True:
                    for agent in list(self.entries):
                        if agent not in watchers or watchers[agent].done():
                            watchers[agent] = asyncio.create_task(self._watch(http, agent))
                    await asyncio.sleep(self.interval)
            finally:
                for watcher in watchers.values():
                    watcher.cancel()
                await asyncio.gather(*watchers.values(), return_exceptions=True)

    async def _watch(self, http: httpx.AsyncClient, agent: str) -> None:
        """Check `agent` every `interval` seconds after its last check ended."""
        while True:
            await asyncio.sleep(self.interval)
            entry = self.entries.get(agent)
            if entry is None:
                return
            await self.check_one(http, entry)

    async def _answers(self, http: httpx.AsyncClient, entry: Entry) -> bool:
        url = str(entry.registration.card.url).rstrip("/") + "/" + CARD_PATH
        try:
            response = await http.get(url)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def registry_app(registry: Registry) -> Starlette:
    async def publish(request: Request) -> JSONResponse:
        try:
            registration = Registration.model_validate_json(await request.body())
            entry = registry.publish(registration)
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            return JSONResponse({"error": f"not a registration: {error}"}, status_code=400)
        except InputError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(entry.to_json(), status_code=201)

    async def listing(request: Request) -> JSONResponse:
        capability = request.query_params.get("capability")
        every = request.query_params.get("all") in ("1", "true")
        entries = registry.discover(capability, every=every)
        return JSONResponse({"agents": [e.to_json() for e in entries]})

    async def one(request: Request) -> JSONResponse:
        entry = registry.entries.get(request.path_params["agent_id"])
        if entry is None:
            return JSONResponse({"error": "no such agent"}, status_code=404)
        return JSONResponse(entry.to_json())

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "agents": len(registry.entries)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        checks = asyncio.create_task(registry.run_checks())
        try:
            yield
        finally:
            checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checks

    return Starlette(
        routes=[
            Route("/agents", publish, methods=["POST"]),
            Route("/agents", listing, methods=["GET"]),
            Route("/agents/{agent_id}", one, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


class RegistryClient:
    """Publish to and discover from a registry at `url`."""

    def __init__(self, url: str, *, http: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        # Idle connections are dropped before the registry's server closes them (uvicorn:
        # after 5 s): a sync sent on one it is closing failed with "Server disconnected".
        limits = httpx.Limits(keepalive_expiry=2.0)
        self.http = http or httpx.AsyncClient(timeout=10.0, limits=limits)

    async def publish(self, registration: Registration) -> None:
        response = await self._call("POST", "/agents", content=registration.model_dump_json())
        if response.status_code != 201:
            raise RemoteError("registry", _reason(response))

    async def discover(
        self, capability: str | None = None, *, every: bool = False
    ) -> list[tuple[Registration, bool]]:
        """The registrations listed (healthy ones, or `every` one), each with its health."""
        params = {"all": "1"} if every else {}
        if capability is not None:
            params["capability"] = capability
        response = await self._call("GET", "/agents", params=params)
        if response.status_code != 200:
            raise RemoteError("registry", _reason(response))
        return [
            (Registration.model_validate({k: a[k] for k in _FIELDS}), bool(a["healthy"]))
            for a in response.json()["agents"]
        ]

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, self.url + path, **kwargs)
        except httpx.HTTPError as error:
            raise AgentUnreachable("registry", f"{self.url}: {error}") from None


_FIELDS = set(Registration.model_fields)


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
