"""Tracing with OpenTelemetry: a span for each envelope hop, handler, tool call and model call.

Off by default, at the cost of one `is None` check per hop: OpenTelemetry is imported only
when an exporter is chosen, so `import lamas` stays light. Turn it on with the environment
(`LAMAS_TRACE=console` or `LAMAS_TRACE=otlp`, the collector's address in the usual
`OTEL_EXPORTER_OTLP_ENDPOINT`) or in code with `configure("console" | "otlp" | exporter)`.

A trace crosses processes in the envelope itself: the hop span's W3C traceparent is
written into `Envelope.trace`, and whoever handles the envelope (in this process or any
other that received it) opens its handler span as that hop's child. So a task run over
several processes is one trace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lamas.errors import ConfigError

# Envelopes and completions are typed loosely here: this module sits below every layer
# that defines them, so that each of those layers can trace.
Envelope = Any
Completion = Any

EXPORTERS = ("none", "console", "otlp")
TRACER: Any = None
"""The tracer while tracing is on; None when it is off (every call site checks this)."""
_provider: Any = None


def configure(exporter: Any = None, *, endpoint: str | None = None, service: str = "lamas") -> None:
    """Choose where spans go: "none" (off), "console", "otlp" (HTTP/protobuf to a collector
    at `endpoint`, default from `OTEL_EXPORTER_OTLP_ENDPOINT`), or an OpenTelemetry
    `SpanExporter` object. Without an argument, `$LAMAS_TRACE` decides (default "none")."""
    global TRACER, _provider
    chosen = exporter if exporter is not None else os.environ.get("LAMAS_TRACE") or "none"
    shutdown()
    if chosen == "none":
        return
    if isinstance(chosen, str) and chosen not in EXPORTERS:
        raise ConfigError(
            f"unknown trace exporter {chosen!r}; choose one of {', '.join(EXPORTERS)}"
        )
    from lamas._extras import need

    need("opentelemetry.sdk", "telemetry", "tracing")
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if chosen == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif chosen == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        target = f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=target)))
    else:  # an exporter object (tests use the in-memory one)
        provider.add_span_processor(SimpleSpanProcessor(chosen))  # type: ignore[arg-type]
    _provider = provider
    TRACER = provider.get_tracer("lamas")


def shutdown() -> None:
    """Flush and stop the current exporter; tracing is off afterwards."""
    global TRACER, _provider
    if _provider is not None:
        _provider.shutdown()
    TRACER, _provider = None, None


# --- the spans (called only while TRACER is set) ------------------------------------------


def _parent(envelope: Envelope) -> Any:
    """The context a span about `envelope` belongs to: the active span if there is one,
    else the trace the envelope carries (from another process, say)."""
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    current = context.get_current()
    if trace.get_current_span(current).get_span_context().is_valid or not envelope.trace:
        return current
    return TraceContextTextMapPropagator().extract({"traceparent": envelope.trace})


def _attributes(envelope: Envelope) -> dict[str, Any]:
    return {
        "lamas.envelope.id": envelope.id,
        "lamas.sender": envelope.sender,
        "lamas.recipient": envelope.recipient,
        "lamas.skill": envelope.skill or "",
        "lamas.kind": envelope.kind,
        "lamas.mode": envelope.mode,
        "lamas.priority": envelope.priority,
        "lamas.task_id": envelope.task_id or "",
    }


def start_hop(envelope: Envelope) -> tuple[Any, Envelope]:
    """Open the span of one hop and return it with the envelope carrying its traceparent."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    kind = trace.SpanKind.CLIENT if envelope.mode == "sync" else trace.SpanKind.PRODUCER
    span = TRACER.start_span(
        f"hop {envelope.skill or envelope.kind} -> {envelope.recipient}",
        context=_parent(envelope),
        kind=kind,
        attributes=_attributes(envelope),
    )
    if envelope.signature is not None:
        return span, envelope  # the trace is signed with the rest: a sender sets it first
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, trace.set_span_in_context(span))
    traced = envelope.model_copy(update={"trace": carrier.get("traceparent", envelope.trace)})
    return span, traced


def end_span(span: Any, error: BaseException | None = None) -> None:
    if error is not None:
        _record_error(span, error)
    span.end()


@contextmanager
def handling(envelope: Envelope) -> Iterator[Any]:
    """The span of a handler answering `envelope`, the child of its hop; calls the handler
    makes while it is open are its children."""
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = (
        TraceContextTextMapPropagator().extract({"traceparent": envelope.trace})
        if envelope.trace
        else context.get_current()
    )
    kind = trace.SpanKind.SERVER if envelope.mode == "sync" else trace.SpanKind.CONSUMER
    span = TRACER.start_span(
        f"handle {envelope.skill or envelope.kind} @ {envelope.recipient}",
        context=parent,
        kind=kind,
        attributes=_attributes(envelope),
    )
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield span
    except BaseException as error:
        _record_error(span, error)
        raise
    finally:
        context.detach(token)
        span.end()


@contextmanager
def tool_call(name: str) -> Iterator[Any]:
    """The span of one tool call (its result, failed or not, is set by the caller)."""
    with TRACER.start_as_current_span(f"tool {name}", attributes={"lamas.tool": name}) as span:
        yield span


def model_call(model: str, completion: Completion) -> None:
    """A span for a finished model call, dated back by the call's own wall time, with its
    token counts (OpenTelemetry's GenAI attribute names)."""
    now = time.time_ns()
    usage = completion.usage
    span = TRACER.start_span(
        f"chat {model}",
        start_time=now - int(usage.seconds * 1e9),
        attributes={
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens,
            "gen_ai.response.finish_reasons": (completion.finish_reason,),
        },
    )
    span.end(end_time=now)


def _record_error(span: Any, error: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


if os.environ.get("LAMAS_TRACE", "none") not in ("", "none"):
    configure()
