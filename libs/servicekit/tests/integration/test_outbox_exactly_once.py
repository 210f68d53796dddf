"""1,000 writes through the outbox while the relay is SIGKILLed five times mid-publish; a consumer
guarded by the inbox applies every event exactly once."""

from __future__ import annotations

import asyncio
import signal
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Column, MetaData, String, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from opscenter.contracts import CloudEvent, Topic
from opscenter.servicekit.consumer import EventConsumer, broker_dead_letter, subscribe
from opscenter.servicekit.db import create_session_factory
from opscenter.servicekit.inbox import Inbox, inbox_table
from opscenter.servicekit.kafka import create_broker, ensure_topics
from opscenter.servicekit.outbox import Outbox, notify_trigger_ddl, outbox_table
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import (
    LocalStack,
    create_database,
    drop_database,
    start_relay_process,
)

pytestmark = pytest.mark.integration

WRITES = 1000
KILLS = 5

metadata = MetaData()
outbox_t = outbox_table(metadata)
inbox_t = inbox_table(metadata)
widgets = Table("widgets", metadata, Column("id", String(64), primary_key=True))
# No unique constraint on purpose: an event applied twice would show up as a second row.
effects = Table("effects", metadata, Column("event_id", String(64), nullable=False))


async def test_relay_killed_five_times_loses_and_duplicates_nothing(local_stack: LocalStack):
    url = await create_database(local_stack, "outbox_kill")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for ddl in notify_trigger_ddl():
                await conn.execute(text(ddl))
        sessions = create_session_factory(engine)
        topic = Topic(name=f"test.outbox.{uuid.uuid4().hex[:8]}", key="widget id", partitions=6)
        await ensure_topics(local_stack.kafka_bootstrap, [topic])
        outbox = Outbox(outbox_t, source="/tests/outbox")

        async def write_all() -> None:
            for i in range(WRITES):
                widget_id = f"w{i}"
                async with sessions() as session, session.begin():
                    await session.execute(insert(widgets).values(id=widget_id))
                    event = CloudEvent(
                        source="/tests/outbox", type="test.widget.created", data={"i": i}
                    )
                    await outbox.add_event(session, event, topic=topic.name, key=widget_id)
                await asyncio.sleep(0.01)  # spread the writes over the five kills

        async def published() -> int:
            async with engine.connect() as conn:
                q = (
                    select(func.count())
                    .select_from(outbox_t)
                    .where(outbox_t.c.published_at.isnot(None))
                )
                return int((await conn.execute(q)).scalar_one())

        relay = start_relay_process(url, local_stack.kafka_bootstrap)
        writer = asyncio.create_task(write_all())
        kills = 0
        try:
            while kills < KILLS:
                before = await published()
                # Kill only once this incarnation has published something: mid-stream, not idle.
                for _ in range(400):
                    if await published() > before:
                        break
                    await asyncio.sleep(0.01)
                relay.send_signal(signal.SIGKILL)
                relay.wait()
                kills += 1
                relay = start_relay_process(url, local_stack.kafka_bootstrap)
            await writer
            for _ in range(600):
                if await published() == WRITES:
                    break
                await asyncio.sleep(0.1)
            assert await published() == WRITES
        finally:
            relay.send_signal(signal.SIGTERM)
            relay.wait(timeout=20)

        async def apply(session: AsyncSession, event: CloudEvent) -> None:
            await session.execute(insert(effects).values(event_id=event.id))

        settings = ServiceSettings(
            kafka_bootstrap=local_stack.kafka_bootstrap, service_name="outbox-test"
        )
        broker = create_broker(settings)
        consumer = EventConsumer(
            name=f"tests.outbox-{uuid.uuid4().hex[:6]}",
            topics=[topic.name],
            handler=apply,
            sessions=sessions,
            inbox=Inbox(inbox_t),
            dead_letter=broker_dead_letter(broker),
        )
        subscribe(broker, consumer, max_records=100)
        await broker.start()
        try:
            for _ in range(600):
                async with engine.connect() as conn:
                    applied = (
                        await conn.execute(select(func.count()).select_from(effects))
                    ).scalar_one()
                if applied >= WRITES:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # anything applied twice would arrive by now
        finally:
            await broker.stop()

        async with engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(effects))).scalar_one()
            distinct = (
                await conn.execute(select(func.count(effects.c.event_id.distinct())))
            ).scalar_one()
            outbox_ids = set((await conn.execute(select(outbox_t.c.event_id))).scalars())
            applied_ids = set((await conn.execute(select(effects.c.event_id))).scalars())
        assert distinct == WRITES
        assert total == WRITES, f"{total - WRITES} events were applied twice"
        assert applied_ids == outbox_ids

        # At the Kafka level the kills are visible as duplicates that the inbox absorbed.
        on_topic = await count_messages(local_stack.kafka_bootstrap, topic)
        print(f"\nkafka messages: {on_topic} for {WRITES} events ({on_topic - WRITES} redelivered)")
        assert on_topic >= WRITES
    finally:
        await engine.dispose()
        await drop_database(local_stack, url)


async def count_messages(bootstrap: str, topic: Topic) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        await consumer.stop()
