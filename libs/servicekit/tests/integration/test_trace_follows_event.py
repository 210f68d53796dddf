"""One trace follows an event from the HTTP request through the outbox, Kafka and a consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
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

from opscenter.contracts import OPS_PLATFORM, CloudEvent, TenantCreatedV1, new_event
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
    consumer_record,
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


def _exporter() -> InMemorySpanExporter:
    configure_tracing(ServiceSettings(service_name="trace-test", log_json=False))
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return spans


async def test_a_batch_keeps_each_event_and_its_follow_ups_in_the_event_s_own_trace(
    local_stack: LocalStack,
):
    spans = _exporter()
    url = await create_database(local_stack, "batchtrace")
    settings = ServiceSettings(service_name="trace-test", database_url=url, log_json=False)
    runtime = ServiceRuntime.create(settings, tables)
    async with runtime.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    handed: list[CloudEvent] = []

    async def batch_handler(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        # A follow-up per event, for the same aggregate (partition key: the tenant).
        for event in reversed(events):
            handed.append(event)
            payload = TenantCreatedV1(tenant_id=str(event.tenantid), name="Acme", tier="pro")
            await runtime.outbox.add(session, payload)

    consumer = runtime.consumer(
        broker=None,  # type: ignore[arg-type]  # nothing is dead-lettered here
        purpose=f"batch-{uuid.uuid4().hex[:6]}",
        topics=[OPS_PLATFORM.name],
        batch_handler=batch_handler,
    )
    incoming = {}
    records = []
    for n in range(2):
        tenant, trace_id, span_id = f"t-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, f"{n + 1:016x}"
        traceparent = f"00-{trace_id}-{span_id}-01"
        created = TenantCreatedV1(tenant_id=tenant, name="Acme", tier="free")
        event = new_event(created, source="/tests", traceparent=traceparent)
        incoming[tenant] = (trace_id, span_id)
        records.append(
            consumer_record(
                OPS_PLATFORM.name,
                event.to_json_bytes(),
                offset=n,
                key=tenant.encode(),
                headers=[("traceparent", traceparent.encode())],
            )
        )
    try:
        await consumer.process(records)
        async with runtime.sessions() as session:
            rows = (
                await session.execute(text("SELECT key, headers->>'traceparent' FROM outbox"))
            ).all()
    finally:
        await runtime.dispose()
        await drop_database(local_stack, url)

    mine = {
        s.context.span_id: s
        for s in spans.get_finished_spans()
        if s.name == f"{consumer.name} tenant.created"
    }
    assert len(mine) == 2
    for event in handed:
        # The handler sees each event as continued by the span that processed it ...
        _, trace_id, span_id, _ = str(event.traceparent).split("-")
        span = mine[int(span_id, 16)]
        assert span.parent is not None
        assert (f"{span.context.trace_id:032x}", f"{span.parent.span_id:016x}") == incoming[
            str(event.tenantid)
        ]
    # ... and each follow-up continues its own aggregate's event, not the batch's span.
    assert {key: traceparent for key, traceparent in rows} == {
        str(event.tenantid): event.traceparent for event in handed
    }
    batch = [s for s in spans.get_finished_spans() if s.name == f"{consumer.name} batch"]
    assert len(batch) == 1
    assert {link.context.span_id for link in batch[0].links} == set(mine)
