"""OpenTelemetry: one trace follows an event from the HTTP request through the outbox, Kafka and
every consumer. The outbox stores the request's `traceparent` with the event; the relay copies it
into Kafka headers; consumers continue the trace from there (see `consumer.py`)."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

from opscenter.servicekit.settings import ServiceSettings

_configured = False


def _exporter(setting: str) -> SpanExporter | None:
    if setting == "none":
        return None
    if setting == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=setting)


def configure_tracing(settings: ServiceSettings) -> None:
    """Installs a tracer provider once per process. With no exporter, spans are still created so
    trace ids reach logs and Kafka headers."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    exporter = _exporter(settings.otel_exporter)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True


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
