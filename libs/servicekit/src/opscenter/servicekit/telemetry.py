"""OpenTelemetry and Prometheus for every process (ADR 0023).

One trace follows an event from the HTTP request through the outbox, Kafka and every consumer.
The outbox stores the request's `traceparent` with the event; the relay copies it into Kafka
headers; consumers continue the trace from there (see `consumer.py`), and what a consumer
writes next (outbox rows, hooks' deliveries) carries the consumer's span on.

Spans go where the settings say: an OTLP/HTTP collector (`otel_exporter`, or the standard
`OTEL_EXPORTER_OTLP_ENDPOINT`), the console, and/or a JSON-lines file (`trace_file`, one span a
line, what the end-to-end tests read). With none of them, spans are still made so trace ids
reach logs and Kafka headers.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import Literal

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine

from opscenter.servicekit.logs import configure_logging
from opscenter.servicekit.settings import ServiceSettings

#: What a process of a service is; a resource attribute of its spans (`opscenter.role`).
Role = Literal["api", "worker", "relay", "dispatcher"]

_configured = False
_OTLP_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per finished span to a file. Each line is one `write` on a file
    opened for appending, so the processes of a service may share a file without tearing
    lines."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                os.write(self._fd, (json.dumps(span_record(span)) + "\n").encode())
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            os.close(self._fd)


def span_record(span: ReadableSpan) -> dict[str, object]:
    """A span as the JSON-lines exporter writes it: ids in W3C hex, the parent's span id (None
    for a root), links, the process (`service`, `role`) and the span's attributes."""
    ctx = span.get_span_context()
    assert ctx is not None
    resource = span.resource.attributes
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": resource.get("service.name"),
        "role": resource.get("opscenter.role"),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "links": [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in span.links
        ],
    }


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _exporters(settings: ServiceSettings) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    if settings.otel_exporter == "console":
        exporters.append(ConsoleSpanExporter())
    elif settings.otel_exporter != "none" or any(os.environ.get(name) for name in _OTLP_ENV):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # Without an explicit endpoint the exporter reads the standard OTEL_EXPORTER_OTLP_* env.
        endpoint = None if settings.otel_exporter == "none" else settings.otel_exporter
        exporters.append(OTLPSpanExporter(endpoint=endpoint))
    if settings.trace_file:
        exporters.append(JsonLinesSpanExporter(settings.trace_file))
    return exporters


def exports_to_collector(settings: ServiceSettings) -> bool:
    """Whether spans reach a collector or the console (not only the test file): statement spans
    are made only then (they cost CPU on every statement)."""
    return settings.otel_exporter != "none" or any(os.environ.get(name) for name in _OTLP_ENV)


def configure_tracing(settings: ServiceSettings, role: Role = "api") -> None:
    """Installs a tracer provider once per process."""
    global _configured
    if _configured:
        return
    resource = Resource.create({"service.name": settings.service_name, "opscenter.role": role})
    provider = TracerProvider(resource=resource)
    for exporter in _exporters(settings):
        # Exported from a thread a second after the span ends, never from the event loop.
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    trace.set_tracer_provider(provider)
    _configured = True


def start_process_telemetry(settings: ServiceSettings, role: Role) -> None:
    """What every worker, relay and dispatcher does first: JSON logs, tracing, and its
    Prometheus metrics on `http_host:metrics_port` (an API serves `/metrics` on its own port
    instead; 0 serves nothing)."""
    configure_logging(settings)
    configure_tracing(settings, role)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.http_host)


def instrument_app(app: FastAPI) -> None:
    """One server span per request. The ASGI "receive"/"send" child spans are left out: they
    cost about as much as the server span each and say nothing a request's span does not."""
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
    )


def instrument_engine(engine: AsyncEngine) -> None:
    """Traces the process's engine (a service process has one; tests that build several get
    spans from the first)."""
    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(engine=engine.sync_engine)
