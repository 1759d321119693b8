"""Tracing: off by default, and when on, one trace per task across hops, handlers, tools,
model calls and processes; exported to the console or to an OTLP collector over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from lamas import telemetry
from lamas.agent.tools import tool
from lamas.errors import ConfigError
from lamas.llm import ScriptedModel
from lamas.llm.base import user
from lamas.protocol import Context, Envelope, Message
from lamas.runtime.transport import LocalTransport


@pytest.fixture
def spans() -> Iterator[Any]:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    telemetry.configure(exporter)
    yield exporter
    telemetry.shutdown()


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def two_agents(model: ScriptedModel) -> LocalTransport:
    transport = LocalTransport()

    async def front(envelope: Envelope, context: Context) -> Message:
        await add.invoke({"a": 1, "b": 2})
        await model.complete([user("hello there")])
        return await context.request(
            Envelope(sender="front", recipient="back", skill="work", message=envelope.message)
        )

    async def back(envelope: Envelope, context: Context) -> Message:
        return Message.of_text("done")

    transport.register("front", front)
    transport.register("back", back)
    return transport


async def test_tracing_is_off_by_default_and_leaves_envelopes_alone() -> None:
    assert telemetry.TRACER is None
    transport = two_agents(ScriptedModel(["ok"]))
    seen: list[Envelope] = []
    transport.observers.append(seen.append)
    reply = await transport.request(
        Envelope(sender="user", recipient="front", message=Message.of_text("hi"))
    )
    assert reply.text == "done"
    assert [e.trace for e in seen] == [None, None]


async def test_one_trace_across_hops_handlers_tools_and_model_calls(spans: Any) -> None:
    transport = two_agents(ScriptedModel(["a reply of five words"]))
    seen: list[Envelope] = []
    transport.observers.append(seen.append)
    await transport.request(
        Envelope(sender="user", recipient="front", skill="start", message=Message.of_text("hi"))
    )
    finished = {span.name: span for span in spans.get_finished_spans()}
    assert set(finished) == {
        "hop start -> front",
        "handle start @ front",
        "tool add",
        "chat scripted",
        "hop work -> back",
        "handle work @ back",
    }
    assert len({span.context.trace_id for span in finished.values()}) == 1

    def parent(name: str) -> str:
        span = finished[name]
        assert span.parent is not None
        by_id = {s.context.span_id: s.name for s in finished.values()}
        return by_id[span.parent.span_id]

    assert finished["hop start -> front"].parent is None
    assert parent("handle start @ front") == "hop start -> front"
    assert parent("tool add") == "handle start @ front"
    assert parent("chat scripted") == "handle start @ front"
    assert parent("hop work -> back") == "handle start @ front"
    assert parent("handle work @ back") == "hop work -> back"
    chat = finished["chat scripted"].attributes
    assert chat is not None
    assert (chat["gen_ai.usage.input_tokens"], chat["gen_ai.usage.output_tokens"]) == (2, 5)
    assert finished["tool add"].attributes == {"lamas.tool": "add", "lamas.tool.ok": True}
    # The traceparent rides in the envelope: it names the hop's span.
    hop = finished["hop start -> front"].context
    assert seen[0].trace is not None
    assert seen[0].trace.startswith(f"00-{hop.trace_id:032x}-{hop.span_id:016x}-")


async def test_a_failed_handler_marks_its_spans(spans: Any) -> None:
    transport = LocalTransport()

    async def broken(envelope: Envelope, context: Context) -> Message:
        raise RuntimeError("out of stock")

    transport.register("shop", broken)
    with pytest.raises(RuntimeError):
        await transport.request(
            Envelope(sender="u", recipient="shop", message=Message.of_text("x"))
        )
    statuses = {s.name: s.status.status_code.name for s in spans.get_finished_spans()}
    assert statuses == {"hop request -> shop": "ERROR", "handle request @ shop": "ERROR"}


CHILD = """
import asyncio, sys
from lamas.protocol import Envelope, Message
from lamas.runtime.transport import LocalTransport

async def main():
    transport = LocalTransport()
    async def hotel(envelope, context):
        return Message.of_text("booked")
    transport.register("hotel", hotel)
    envelope = Envelope.parse(sys.stdin.read())
    reply = await transport.request(envelope)
    print("REPLY " + reply.text, file=sys.stderr)

asyncio.run(main())
"""


def test_a_trace_crosses_processes_in_the_envelope(spans: Any) -> None:
    from opentelemetry import trace

    with telemetry.TRACER.start_as_current_span("task") as root:
        span, envelope = telemetry.start_hop(
            Envelope(
                sender="orchestrator",
                recipient="hotel",
                skill="hotel.book",
                message=Message.of_text("two nights"),
            )
        )
        span.end()
    assert envelope.trace is not None
    # Another process, tracing to its console, handles the envelope it was sent as JSON.
    env = {**os.environ, "LAMAS_TRACE": "console"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=envelope.model_dump_json(),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert "REPLY booked" in done.stderr
    printed = json.loads("[" + done.stdout.replace("}\n{", "},\n{") + "]")
    # There, the envelope's hop into the hotel's mailbox continues our hop, and the
    # handler's span is that hop's child: one trace over both processes.
    relayed = next(s for s in printed if s["name"] == "hop hotel.book -> hotel")
    handled = next(s for s in printed if s["name"] == "handle hotel.book @ hotel")
    ours = span.get_span_context()
    trace_id = f"0x{root.get_span_context().trace_id:032x}"
    assert relayed["context"]["trace_id"] == handled["context"]["trace_id"] == trace_id
    assert relayed["parent_id"] == f"0x{ours.span_id:016x}"
    assert handled["parent_id"] == relayed["context"]["span_id"]
    assert trace.get_current_span() is trace.INVALID_SPAN


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_spans_reach_an_otlp_collector_over_http() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        telemetry.configure("otlp", endpoint=f"http://127.0.0.1:{server.server_port}")
        transport = two_agents(ScriptedModel(["fine"]))
        await transport.request(
            Envelope(sender="user", recipient="front", skill="start", message=Message.of_text("x"))
        )
        telemetry.shutdown()  # flushes the batch
    finally:
        telemetry.shutdown()
        server.shutdown()
    paths = {path for path, _ in _Collector.received}
    assert paths == {"/v1/traces"}
    body = b"".join(body for _, body in _Collector.received)
    for name in (b"handle work @ back", b"chat scripted", b"tool add"):
        assert name in body


def test_an_unknown_exporter_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown trace exporter"):
        telemetry.configure("jaeger-thrift")
    assert telemetry.TRACER is None
