"""The consumer's failure paths and the Idempotency-Key store, on the real Postgres and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from opscenter.contracts import CloudEvent, Topic
from opscenter.servicekit.consumer import EventConsumer, broker_dead_letter, subscribe
from opscenter.servicekit.db import create_session_factory
from opscenter.servicekit.errors import Problem
from opscenter.servicekit.idempotency import IdempotencyStore, fingerprint, idempotency_table
from opscenter.servicekit.inbox import Inbox, inbox_table
from opscenter.servicekit.kafka import create_broker, ensure_topics
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import (
    LocalStack,
    consumer_record,
    create_database,
    drop_database,
)

pytestmark = pytest.mark.integration

metadata = MetaData()
inbox_t = inbox_table(metadata)
idem_t = idempotency_table(metadata)
TOPIC = "t.events"
effects = Table("effects", metadata, Column("event_id", String(64)), Column("n", Integer))


@pytest.fixture(scope="module")
async def sessions(local_stack: LocalStack) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = await create_database(local_stack, "consumer")
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield create_session_factory(engine)
    await engine.dispose()
    await drop_database(local_stack, url)


class Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    async def __call__(
        self, topic: str, value: bytes, key: bytes | None, headers: dict[str, str]
    ) -> None:
        self.sent.append((topic, value, headers))


def event(n: int) -> CloudEvent:
    return CloudEvent(source="/tests", type="test.thing", data={"n": n})


async def count_effects(sessions: async_sessionmaker[AsyncSession], event_id: str) -> int:
    async with sessions() as session:
        q = select(func.count()).select_from(effects).where(effects.c.event_id == event_id)
        return int((await session.execute(q)).scalar_one())


def make_consumer(
    sessions: async_sessionmaker[AsyncSession], handler: Any, sink: Sink
) -> EventConsumer:
    return EventConsumer(
        name=f"tests.{uuid.uuid4().hex[:6]}",
        topics=["t.events"],
        handler=handler,
        sessions=sessions,
        inbox=Inbox(inbox_t),
        dead_letter=sink,
        retry_backoff_s=0.01,
    )


async def apply(session: AsyncSession, ev: CloudEvent) -> None:
    if ev.data["n"] < 0:
        raise ValueError(f"negative n: {ev.data['n']}")
    await session.execute(insert(effects).values(event_id=ev.id, n=ev.data["n"]))


async def test_poison_and_failing_events_go_to_dlq_and_the_rest_apply(sessions):
    sink = Sink()
    consumer = make_consumer(sessions, apply, sink)
    good, bad = event(1), event(-1)
    await consumer.process(
        [
            consumer_record(TOPIC, b"{not json", 0),
            consumer_record(TOPIC, good.to_json_bytes(), 1),
            consumer_record(TOPIC, bad.to_json_bytes(), 2),
        ]
    )
    assert await count_effects(sessions, good.id) == 1
    assert await count_effects(sessions, bad.id) == 0
    assert [topic for topic, _, _ in sink.sent] == ["t.events.dlq", "t.events.dlq"]
    unparseable, failing = sink.sent[0][2], sink.sent[1][2]
    assert unparseable["dlq-offset"] == "0"
    assert failing["dlq-offset"] == "2"
    assert "negative n: -1" in failing["dlq-error"]
    assert failing["dlq-consumer"] == consumer.name


async def test_a_consumer_of_some_types_passes_the_others_over_unparsed_and_unclaimed(sessions):
    sink = Sink()
    consumer = make_consumer(sessions, apply, sink)
    consumer.types = frozenset({"test.thing"})
    wanted, wanted_unlabelled = event(1), event(2)
    other = CloudEvent(source="/tests", type="test.other", data={"n": 3})
    await consumer.process(
        [
            consumer_record(TOPIC, wanted.to_json_bytes(), 0, headers=[("ce_type", b"test.thing")]),
            # Labelled as another type: passed over before parsing, so not dead-lettered.
            consumer_record(TOPIC, b"{not json", 1, headers=[("ce_type", b"test.other")]),
            # No label: parsed, then passed over by its type.
            consumer_record(TOPIC, other.to_json_bytes(), 2),
            consumer_record(TOPIC, wanted_unlabelled.to_json_bytes(), 3),
        ]
    )
    assert sink.sent == []
    assert await count_effects(sessions, wanted.id) == 1
    assert await count_effects(sessions, wanted_unlabelled.id) == 1
    assert await count_effects(sessions, other.id) == 0
    async with sessions() as session:
        claimed = await session.execute(
            select(inbox_t.c.event_id).where(inbox_t.c.consumer == consumer.name)
        )
        assert set(claimed.scalars()) == {wanted.id, wanted_unlabelled.id}


async def test_redelivery_is_applied_once(sessions):
    consumer = make_consumer(sessions, apply, Sink())
    ev = event(7)
    await consumer.process(
        [
            consumer_record(TOPIC, ev.to_json_bytes(), 0),
            consumer_record(TOPIC, ev.to_json_bytes(), 1),
        ]
    )
    await consumer.process([consumer_record(TOPIC, ev.to_json_bytes(), 2)])
    assert await count_effects(sessions, ev.id) == 1


async def test_transient_errors_are_raised_not_dead_lettered(sessions):
    sink = Sink()

    async def db_down(session: AsyncSession, ev: CloudEvent) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    consumer = make_consumer(sessions, db_down, sink)
    with pytest.raises(OperationalError):
        await consumer.process([consumer_record(TOPIC, event(1).to_json_bytes())])
    assert sink.sent == []


async def test_dlq_through_kafka(local_stack: LocalStack, sessions):
    """The wired subscriber reads a real topic and publishes the poison message to its DLQ."""
    topic = Topic(name=f"test.dlq.{uuid.uuid4().hex[:8]}", key="k", partitions=1)
    await ensure_topics(local_stack.kafka_bootstrap, [topic])
    broker = create_broker(ServiceSettings(kafka_bootstrap=local_stack.kafka_bootstrap))
    consumer = EventConsumer(
        name=f"tests.dlq-{uuid.uuid4().hex[:6]}",
        topics=[topic.name],
        handler=apply,
        sessions=sessions,
        inbox=Inbox(inbox_t),
        dead_letter=broker_dead_letter(broker),
    )
    subscribe(broker, consumer)
    good = event(5)
    producer = AIOKafkaProducer(bootstrap_servers=local_stack.kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(topic.name, b"\x00garbage", key=b"k")
    await producer.send_and_wait(topic.name, good.to_json_bytes(), key=b"k")
    await producer.stop()
    await broker.start()
    try:
        reader = AIOKafkaConsumer(
            topic.dlq, bootstrap_servers=local_stack.kafka_bootstrap, auto_offset_reset="earliest"
        )
        await reader.start()
        try:
            dead = await asyncio.wait_for(reader.getone(), timeout=30)
        finally:
            await reader.stop()
        for _ in range(100):
            if await count_effects(sessions, good.id):
                break
            await asyncio.sleep(0.1)
    finally:
        await broker.stop()
    assert dead.value == b"\x00garbage"
    assert dict((k, v.decode()) for k, v in dead.headers)["dlq-topic"] == topic.name
    assert await count_effects(sessions, good.id) == 1


async def test_idempotency_key_replays_first_answer_and_refuses_reuse(sessions):
    store = IdempotencyStore(idem_t)
    scope, key = "user-1:tenant-1:POST /things", str(uuid.uuid4())
    body_hash = fingerprint({"name": "a"})
    async with sessions() as session, session.begin():
        assert await store.begin(session, scope, key, body_hash) is None
        await session.execute(insert(effects).values(event_id=key, n=1))
        await store.finish(session, scope, key, 201, {"id": "thing-1"})
    async with sessions() as session, session.begin():
        replay = await store.begin(session, scope, key, body_hash)
    assert replay is not None
    assert (replay.status_code, replay.body) == (201, {"id": "thing-1"})
    assert await count_effects(sessions, key) == 1
    async with sessions() as session, session.begin():
        with pytest.raises(Problem) as refused:
            await store.begin(session, scope, key, fingerprint({"name": "b"}))
    assert refused.value.status == 422


async def test_idempotency_key_of_a_rolled_back_request_can_be_used_again(sessions):
    store = IdempotencyStore(idem_t)
    scope, key = "user-1:tenant-1:POST /things", str(uuid.uuid4())
    async with sessions() as session, session.begin():
        assert await store.begin(session, scope, key, "h") is None
        await session.rollback()
    async with sessions() as session, session.begin():
        assert await store.begin(session, scope, key, "h") is None


async def test_concurrent_requests_with_one_key_run_once(sessions):
    store = IdempotencyStore(idem_t)
    scope, key = "user-2:tenant-1:POST /things", str(uuid.uuid4())

    async def request() -> tuple[int, Any]:
        async with sessions() as session, session.begin():
            replay = await store.begin(session, scope, key, "same")
            if replay is not None:
                return replay.status_code, replay.body
            await session.execute(insert(effects).values(event_id=key, n=2))
            await asyncio.sleep(0.2)  # the other request arrives while this one is open
            await store.finish(session, scope, key, 202, {"done": True})
            return 202, {"done": True}

    answers = await asyncio.gather(request(), request())
    assert answers == [(202, {"done": True}), (202, {"done": True})]
    assert await count_effects(sessions, key) == 1
