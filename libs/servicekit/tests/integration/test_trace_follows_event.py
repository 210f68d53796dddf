"""One trace follows an event from the HTTP request through the outbox, Kafka and a consumer."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import OPS_PLATFORM, CloudEvent, TenantCreatedV1
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.consumer import subscribe
from opscenter.servicekit.idempotency import idempotency_table
from opscenter.servicekit.inbox import inbox_table
from opscenter.servicekit.kafka import create_broker, ensure_topics
from opscenter.servicekit.outbox import notify_trigger_ddl, outbox_table
from opscenter.servicekit.runtime import RuntimeDep, ServiceRuntime
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.telemetry import configure_tracing
from opscenter.servicekit.testing import (
    LocalStack,
    create_database,
    drop_database,
    running_relay,
)

pytestmark = pytest.mark.integration

metadata = MetaData()
tables = SimpleNamespace(
    outbox=outbox_table(metadata),
    inbox=inbox_table(metadata),
    idempotency_keys=idempotency_table(metadata),
)


async def test_trace_id_is_shared_by_request_outbox_and_consumer(local_stack: LocalStack):
    settings = ServiceSettings(service_name="trace-test", log_json=False)
    configure_tracing(settings)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))

    url = await create_database(local_stack, "trace")
    settings = settings.model_copy(
        update={"database_url": url, "kafka_bootstrap": local_stack.kafka_bootstrap}
    )
    runtime = ServiceRuntime.create(settings, tables)
    async with runtime.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        for ddl in notify_trigger_ddl():
            await conn.execute(text(ddl))
    await ensure_topics(local_stack.kafka_bootstrap, [OPS_PLATFORM])

    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    router = APIRouter()

    @router.post("/tenants")
    async def create_tenant(rt: RuntimeDep) -> dict[str, str]:
        async with rt.uow() as uow:
            event = await uow.emit(TenantCreatedV1(tenant_id=tenant_id, name="Acme", tier="free"))
            await uow.commit()
        return {"event_id": event.id}

    app = create_service_app(settings, title="trace", routers=[router], runtime=runtime)
    seen: dict[str, str] = {}

    async def handler(session: AsyncSession, event: CloudEvent) -> None:
        ctx = trace.get_current_span().get_span_context()
        seen[event.id] = f"{ctx.trace_id:032x}"

    broker = create_broker(settings)
    subscribe(
        broker,
        runtime.consumer(broker, f"trace-{uuid.uuid4().hex[:6]}", [OPS_PLATFORM.name], handler),
    )
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.post("/api/v1/tenants")
        event_id = answer.json()["event_id"]
        async with runtime.sessions() as session:
            stored = (
                await session.execute(
                    text("SELECT headers->>'traceparent' FROM outbox WHERE event_id = :id"),
                    {"id": event_id},
                )
            ).scalar_one()
        await broker.start()
        async with running_relay(url, local_stack.kafka_bootstrap):
            for _ in range(300):
                if event_id in seen:
                    break
                await asyncio.sleep(0.1)
    finally:
        await broker.stop()
        await runtime.dispose()
        await drop_database(local_stack, url)

    server_spans = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    request_trace = f"{server_spans[-1].context.trace_id:032x}"
    assert stored.split("-")[1] == request_trace
    assert seen[event_id] == request_trace
