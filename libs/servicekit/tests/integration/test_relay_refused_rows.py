"""A row Kafka refuses for good does not stall its bucket: it is dead-lettered with a notice and
the rows behind it are published in order."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData, func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from opscenter.contracts import CloudEvent, Topic
from opscenter.servicekit.db import create_session_factory
from opscenter.servicekit.kafka import ensure_topics
from opscenter.servicekit.outbox import Outbox, notify_trigger_ddl, outbox_table
from opscenter.servicekit.testing import (
    LocalStack,
    collect_events,
    create_database,
    drop_database,
    running_relay,
)

pytestmark = pytest.mark.integration

metadata = MetaData()
outbox_t = outbox_table(metadata)


async def test_an_oversized_event_is_dead_lettered_and_the_key_keeps_flowing(
    local_stack: LocalStack,
):
    url = await create_database(local_stack, "refused")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for ddl in notify_trigger_ddl():
                await conn.execute(text(ddl))
        topic = Topic(name=f"test.refused.{uuid.uuid4().hex[:8]}", key="k", partitions=1)
        await ensure_topics(local_stack.kafka_bootstrap, [topic])
        outbox = Outbox(outbox_t, source="/tests/refused")
        events = [
            CloudEvent(source="/tests", type="test.small", data={"n": 1}),
            CloudEvent(source="/tests", type="test.huge", data={"blob": "x" * 2_000_000}),
            CloudEvent(source="/tests", type="test.small", data={"n": 2}),
        ]
        async with create_session_factory(engine)() as session, session.begin():
            for event in events:
                await outbox.add_event(session, event, topic=topic.name, key="same-key")

        async with running_relay(url, local_stack.kafka_bootstrap):
            delivered = await collect_events(local_stack.kafka_bootstrap, topic.name, count=2)
            dead = await collect_events_raw(local_stack.kafka_bootstrap, topic.dlq)
        assert [e.data.get("n") for e in delivered] == [1, 2]
        assert dead["size"] > 2_000_000
        assert "MessageSizeTooLarge" in dead["error"]
        async with engine.connect() as conn:
            pending = (
                select(func.count()).select_from(outbox_t).where(outbox_t.c.published_at.is_(None))
            )
            assert (await conn.execute(pending)).scalar_one() == 0
    finally:
        await engine.dispose()
        await drop_database(local_stack, url)


async def collect_events_raw(bootstrap: str, topic: str) -> dict:
    """The first record of `topic` as JSON (a DLQ notice is not a CloudEvent)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()
    return json.loads(record.value)
