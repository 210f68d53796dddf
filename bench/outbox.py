"""Outbox-to-inbox throughput beside raw aiokafka produce-and-consume, in the same run.

    make bench   (or: eval "$(deploy/local/stack.sh env dev)"; uv run python bench/outbox.py)

Pipeline measured: N events already committed in a service's outbox -> relay (advisory-locked
buckets, idempotent producer, acks=all) -> Kafka -> FastStream batch consumer -> inbox claim and a
one-row effect per event, committed before the offsets. Baseline: the same N messages produced
with an idempotent acks=all aiokafka producer and read back by an aiokafka consumer group, with no
database at all. Aim: at least 5,000 events/s for the pipeline on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer
from sqlalchemy import Column, MetaData, String, Table, insert, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from opscenter.contracts import CloudEvent, Topic
from opscenter.servicekit.consumer import EventConsumer, broker_dead_letter, subscribe
from opscenter.servicekit.db import asyncpg_dsn, create_session_factory
from opscenter.servicekit.inbox import Inbox, inbox_table
from opscenter.servicekit.kafka import create_broker, create_producer, ensure_topics
from opscenter.servicekit.outbox import Outbox, notify_trigger_ddl, outbox_table
from opscenter.servicekit.relay import OutboxRelay
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import LocalStack, create_database, drop_database

metadata = MetaData()
outbox_t = outbox_table(metadata)
inbox_t = inbox_table(metadata)
effects = Table("effects", metadata, Column("event_id", String(64), primary_key=True))


def stack() -> LocalStack:
    return LocalStack(
        os.environ["OPSCENTER_KAFKA_BOOTSTRAP"],
        os.environ["OPSCENTER_DATABASE_URL"],
        os.environ["OPSCENTER_PG_ADMIN_DSN"],
    )


def payload(i: int) -> bytes:
    return CloudEvent(source="/bench", type="bench.item.created", data={"i": i}).to_json_bytes()


async def raw_kafka(bootstrap: str, n: int) -> float:
    topic = Topic(name=f"bench.raw.{uuid.uuid4().hex[:8]}", key="item", partitions=6)
    await ensure_topics(bootstrap, [topic])
    values = [payload(i) for i in range(n)]
    consumer = AIOKafkaConsumer(
        topic.name,
        bootstrap_servers=bootstrap,
        group_id=f"bench.raw-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    await consumer.start()
    producer = create_producer(bootstrap, client_id="bench-raw")
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [
            await producer.send(topic.name, v, key=f"k{i}".encode()) for i, v in enumerate(values)
        ]
        await asyncio.gather(*futures)
        seen = 0
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            seen += sum(len(records) for records in batches.values())
            await consumer.commit()
        return time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()


async def outbox_pipeline(local: LocalStack, n: int, *, batch_effects: bool) -> tuple[float, float]:
    url = await create_database(local, "bench_outbox")
    engine = create_async_engine(url, pool_size=5)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for ddl in notify_trigger_ddl():
                await conn.execute(text(ddl))
        sessions = create_session_factory(engine)
        topic = Topic(name=f"bench.outbox.{uuid.uuid4().hex[:8]}", key="item", partitions=6)
        await ensure_topics(local.kafka_bootstrap, [topic])
        outbox = Outbox(outbox_t, source="/bench")

        write_started = time.perf_counter()
        for start in range(0, n, 100):
            async with sessions() as session, session.begin():
                for i in range(start, min(start + 100, n)):
                    event = CloudEvent(source="/bench", type="bench.item.created", data={"i": i})
                    await outbox.add_event(session, event, topic=topic.name, key=f"k{i}")
        write_s = time.perf_counter() - write_started

        async def apply(session: AsyncSession, event: CloudEvent) -> None:
            await session.execute(insert(effects).values(event_id=event.id))

        async def apply_batch(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
            await session.execute(insert(effects), [{"event_id": e.id} for e in events])

        settings = ServiceSettings(kafka_bootstrap=local.kafka_bootstrap, service_name="bench")
        broker = create_broker(settings)
        subscribe(
            broker,
            EventConsumer(
                name=f"bench.outbox-{uuid.uuid4().hex[:6]}",
                topics=[topic.name],
                handler=None if batch_effects else apply,
                batch_handler=apply_batch if batch_effects else None,
                sessions=sessions,
                inbox=Inbox(inbox_t),
                dead_letter=broker_dead_letter(broker),
            ),
            max_records=500,
        )
        await broker.start()
        # Let the consumer join its group before the clock starts, as a running service would be.
        await asyncio.sleep(3)
        stop = asyncio.Event()
        relay = OutboxRelay(asyncpg_dsn(url), local.kafka_bootstrap, batch_size=1000)
        pg = await asyncpg.connect(asyncpg_dsn(url))
        started = time.perf_counter()
        relay_task = asyncio.create_task(relay.run(stop))
        try:
            while await pg.fetchval("SELECT count(*) FROM effects") < n:
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
        finally:
            stop.set()
            await relay_task
            await broker.stop()
            await pg.close()
        return elapsed, write_s
    finally:
        await engine.dispose()
        await drop_database(local, url)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    local = stack()
    n = args.events
    raw_s = await raw_kafka(local.kafka_bootstrap, n)
    single_s, write_s = await outbox_pipeline(local, n, batch_effects=False)
    batch_s, _ = await outbox_pipeline(local, n, batch_effects=True)
    raw_rate, single_rate, batch_rate = n / raw_s, n / single_s, n / batch_s
    rows = [
        ("baseline: raw aiokafka produce+consume", raw_rate, raw_s),
        ("outbox->relay->kafka->inbox, batch effect", batch_rate, batch_s),
        ("outbox->relay->kafka->inbox, 1 stmt/event", single_rate, single_s),
    ]
    print(f"events: {n}")
    for label, rate, seconds in rows:
        print(f"{label:44s}: {rate:10,.0f} events/s ({seconds:.2f} s)")
    print(f"{'ratio batch effect / baseline':44s}: {batch_rate / raw_rate:10.2f}")
    print(f"{'ratio 1 stmt/event / baseline':44s}: {single_rate / raw_rate:10.2f}")
    print(f"{'(outbox writes, 100 per transaction)':44s}: {n / write_s:10,.0f} events/s")
    verdict = "met" if batch_rate >= 5000 else "NOT met"
    print(f"aim >= 5,000 events/s (batch effect): {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
