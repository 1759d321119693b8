"""HTTP benchmark: what A2A costs per message on loopback, against a bare Starlette echo.

(A) round trip, one request at a time: a lamas envelope sent by `HttpTransport` to an
    agent served by `lamas.interop` (A2A v1.0 JSON-RPC: the envelope mapped to an A2A
    message, the server's task lifecycle, the reply mapped back), against the same
    envelope JSON POSTed to a bare Starlette endpoint that echoes it. p50 and p99 in ms;
    the A2A overhead is the difference of the medians.
(B) 1,000 concurrent tasks against the one agent (and 1,000 concurrent bare POSTs):
    errors (target 0), wall time, requests per second.

Both servers run in one separate process (`--serve`), on 127.0.0.1, each with uvicorn;
the client here uses one pooled httpx client per side. Rounds alternate A2A and bare
so that machine noise hits both. Prints a table and writes JSON to benchmarks/results/.

Run: `python benchmarks/a2a_http.py` (or `make bench-http`). Not named http.py: the
benchmarks folder is on sys.path when a benchmark runs, and would shadow the stdlib.
"""

# ruff: noqa: E402 -- the imports follow the path fix below, on purpose
from __future__ import annotations

import sys
from pathlib import Path

# This file shares its name with the standard library's `http` (which httpx and Starlette
# import): its folder goes behind the standard library on the path, not in front.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import time
from typing import Any

from _results import finish  # benchmarks/ is on the path (last) when run as a script

TARGETS = {"concurrent_errors": 0}
CONNECTIONS = 64  # per side: A2AConnector's default


# --- the server process ---------------------------------------------------------------


def serve(port_file: Path) -> None:
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from lamas.interop.client import SERVER_KEEPALIVE_SECONDS
    from lamas.interop.node import no_delay
    from lamas.interop.server import a2a_app
    from lamas.protocol import AgentCard, Envelope, Message, Skill

    async def echo_bare(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    bare = Starlette(routes=[Route("/", echo_bare, methods=["POST"])])

    sockets = []
    for _ in range(2):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        no_delay(sock)  # as lamas serve does: without it every reply waits ~40 ms
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    a2a_port, bare_port = (s.getsockname()[1] for s in sockets)
    card = AgentCard(
        id="echo",
        name="Echo",
        entity="bench",
        url=f"http://127.0.0.1:{a2a_port}/",
        skills=(Skill(name="echo", description="says back what it gets"),),
    )

    async def deliver(envelope: Envelope) -> Message:
        return Message.of_data({"echo": envelope.message.data})

    async def main() -> None:
        config = {
            "log_level": "warning",
            "lifespan": "off",
            "access_log": False,
            "timeout_keep_alive": int(SERVER_KEEPALIVE_SECONDS),
        }
        servers = [
            uvicorn.Server(uvicorn.Config(a2a_app(card, deliver), backlog=4096, **config)),
            uvicorn.Server(uvicorn.Config(bare, backlog=4096, **config)),
        ]
        tasks = [
            asyncio.create_task(s.serve(sockets=[sock]))
            for s, sock in zip(servers, sockets, strict=True)
        ]
        while not all(s.started for s in servers):  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.01)
        ports = json.dumps({"a2a": a2a_port, "bare": bare_port})
        await asyncio.to_thread(port_file.write_text, ports)
        await asyncio.gather(*tasks)

    asyncio.run(main())


# --- the client -----------------------------------------------------------------------


def envelope() -> Any:
    from lamas.protocol import Envelope, Message

    return Envelope(
        sender="bench",
        recipient="echo",
        skill="echo",
        message=Message.of_data({"origin": "Paris", "destination": "Lyon", "nights": 2}),
    )


async def measure(
    ports: dict[str, int], sequential: int, rounds: int, concurrent: int
) -> dict[str, Any]:
    import httpx

    from lamas.interop.client import A2AConnector, HttpTransport

    a2a_url = f"http://127.0.0.1:{ports['a2a']}/"
    bare_url = f"http://127.0.0.1:{ports['bare']}/"
    connector = A2AConnector(max_connections=CONNECTIONS)
    transport = HttpTransport({"echo": a2a_url}, connector=connector)
    await connector.fetch_card(a2a_url)
    from lamas.interop.client import KEEPALIVE_SECONDS

    bare = httpx.AsyncClient(  # pooled exactly like the A2A connector's
        limits=httpx.Limits(
            max_connections=CONNECTIONS,
            max_keepalive_connections=CONNECTIONS,
            keepalive_expiry=KEEPALIVE_SECONDS,
        ),
        timeout=httpx.Timeout(60.0, pool=None),
    )
    body = envelope().model_dump_json()

    async def one_a2a() -> None:
        reply = await transport.request(envelope())
        assert reply.data["echo"]["nights"] == 2

    slots = asyncio.Semaphore(CONNECTIONS)  # as the connector does

    async def one_bare() -> None:
        async with slots:
            response = await bare.post(bare_url, content=body)
        assert response.json()["recipient"] == "echo"

    async def timed(call: Any, n: int) -> list[float]:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            await call()
            times.append((time.perf_counter() - started) * 1000)
        return times

    for call in (one_a2a, one_bare):  # warm-up: connections, imports, caches
        await timed(call, 20)
    a2a_ms: list[float] = []
    bare_ms: list[float] = []
    for _ in range(rounds):
        a2a_ms += await timed(one_a2a, sequential)
        bare_ms += await timed(one_bare, sequential)

    async def burst(call: Any) -> tuple[int, float, list[str]]:
        started = time.perf_counter()
        results = await asyncio.gather(*(call() for _ in range(concurrent)), return_exceptions=True)
        seconds = time.perf_counter() - started
        errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        return len(errors), seconds, errors[:3]

    a2a_errors, a2a_seconds, a2a_examples = await burst(one_a2a)
    bare_errors, bare_seconds, _ = await burst(one_bare)
    await connector.close()
    await bare.aclose()
    return {
        "a2a_ms": a2a_ms,
        "bare_ms": bare_ms,
        "concurrent": concurrent,
        "a2a_concurrent_errors": a2a_errors,
        "a2a_concurrent_seconds": a2a_seconds,
        "a2a_error_examples": a2a_examples,
        "bare_concurrent_errors": bare_errors,
        "bare_concurrent_seconds": bare_seconds,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--concurrent", type=int, default=1000, help="tasks at once in (B)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    sequential, rounds = (50, 2) if args.quick else (200, 5)

    import tempfile

    port_file = Path(tempfile.mkdtemp(prefix="lamas-bench-http-")) / "ports.json"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port_file)],
        env={**os.environ, "OMP_WAIT_POLICY": "passive"},
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                print("the server process did not start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        ports = json.loads(port_file.read_text())
        raw = asyncio.run(measure(ports, sequential, rounds, args.concurrent))
    finally:
        server.terminate()
        server.wait(timeout=10)

    a2a, bare = raw["a2a_ms"], raw["bare_ms"]
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "requests_per_side": len(a2a),
        "a2a_p50_ms": statistics.median(a2a),
        "a2a_p99_ms": percentile(a2a, 99),
        "bare_p50_ms": statistics.median(bare),
        "bare_p99_ms": percentile(bare, 99),
        **{k: v for k, v in raw.items() if not k.endswith("_ms")},
    }
    result["overhead_p50_ms"] = result["a2a_p50_ms"] - result["bare_p50_ms"]
    result["overhead_p99_ms"] = result["a2a_p99_ms"] - result["bare_p99_ms"]
    result["ratio_p50"] = result["a2a_p50_ms"] / result["bare_p50_ms"]
    n = raw["concurrent"]
    result["a2a_concurrent_rps"] = n / raw["a2a_concurrent_seconds"]
    result["bare_concurrent_rps"] = n / raw["bare_concurrent_seconds"]

    from rich.console import Console
    from rich.table import Table

    table = Table(title="A2A (lamas.interop) vs bare Starlette echo, loopback")
    for column in ("measure", "A2A", "bare", "A2A - bare", "A2A / bare"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for label, key in (("(A) round trip p50 (ms)", "p50"), ("(A) round trip p99 (ms)", "p99")):
        ours, base = result[f"a2a_{key}_ms"], result[f"bare_{key}_ms"]
        table.add_row(
            label, f"{ours:.2f}", f"{base:.2f}", f"{ours - base:.2f}", f"{ours / base:.2f}"
        )
    table.add_row(
        f"(B) {n:,} concurrent: wall (s)",
        f"{raw['a2a_concurrent_seconds']:.2f}",
        f"{raw['bare_concurrent_seconds']:.2f}",
        "",
        f"{raw['a2a_concurrent_seconds'] / raw['bare_concurrent_seconds']:.2f}",
    )
    table.add_row(
        f"(B) {n:,} concurrent: errors",
        str(raw["a2a_concurrent_errors"]),
        str(raw["bare_concurrent_errors"]),
        "",
        "",
    )
    Console().print(table)
    if raw["a2a_error_examples"]:
        print("errors, e.g.:", *raw["a2a_error_examples"], sep="\n  ")
    checks = {"concurrent_errors == 0": raw["a2a_concurrent_errors"] == 0}
    return finish("http", result, checks)


if __name__ == "__main__":
    sys.exit(main())
