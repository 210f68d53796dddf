"""Kafka and Postgres die under a running relay and consumer; the suite converges with every
committed event applied exactly once.

Writes keep coming while the broker is SIGKILLed and restarted, then the database. A write whose
transaction failed was never committed, so it is not expected; every committed one must arrive
once. This test stops the shared test instance's servers, so it lives in the faults tier.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import uuid

from sqlalchemy import Column, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import DBAPIError
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

metadata = MetaData()
outbox_t = outbox_table(metadata)
inbox_t = inbox_table(metadata)
effects = Table("effects", metadata, Column("event_id", String(64), nullable=False))


async def test_kafka_and_postgres_restarts_lose_and_duplicate_nothing(local_stack: LocalStack):
    url = await create_database(local_stack, "faults")
    engine = create_async_engine(url, pool_pre_ping=True)
    sessions = create_session_factory(engine)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        for ddl in notify_trigger_ddl():
            await conn.execute(text(ddl))
    topic = Topic(name=f"test.faults.{uuid.uuid4().hex[:8]}", key="item", partitions=3)
    await ensure_topics(local_stack.kafka_bootstrap, [topic])
    outbox = Outbox(outbox_t, source="/tests/faults")
    committed: list[str] = []
    failed_writes = 0
    stop_writing = asyncio.Event()

    async def writer() -> None:
        nonlocal failed_writes
        i = 0
        while not stop_writing.is_set():
            event = CloudEvent(source="/tests/faults", type="test.item.created", data={"i": i})
            try:
                async with sessions() as session, session.begin():
                    await outbox.add_event(session, event, topic=topic.name, key=f"item-{i % 17}")
                committed.append(event.id)
            except (DBAPIError, OSError):
                failed_writes += 1  # never committed: not expected downstream
                await asyncio.sleep(0.2)
            i += 1
            await asyncio.sleep(0.01)

    async def apply(session: AsyncSession, event: CloudEvent) -> None:
        await session.execute(insert(effects).values(event_id=event.id))

    broker = create_broker(ServiceSettings(kafka_bootstrap=local_stack.kafka_bootstrap))
    subscribe(
        broker,
        EventConsumer(
            name=f"tests.faults-{uuid.uuid4().hex[:6]}",
            topics=[topic.name],
            handler=apply,
            sessions=sessions,
            inbox=Inbox(inbox_t),
            dead_letter=broker_dead_letter(broker),
        ),
        max_records=100,
    )
    await broker.start()
    relay = start_relay_process(url, local_stack.kafka_bootstrap)
    writing = asyncio.create_task(writer())
    try:
        # How many writes had committed when each phase ended: every phase with a database
        # must have seen writes commit, whatever the machine's speed.
        phases: dict[str, int] = {}
        await asyncio.sleep(2)
        phases["before the outages"] = len(committed)
        local_stack.control("kill-kafka")
        await asyncio.sleep(2)
        local_stack.control("start-kafka")
        phases["while Kafka was down"] = len(committed)
        await asyncio.sleep(3)
        phases["after Kafka came back"] = len(committed)
        local_stack.control("kill-postgres")
        await asyncio.sleep(1)
        local_stack.control("start-postgres")
        phases["while Postgres was down"] = len(committed)
        await _until_more(committed, than=phases["while Postgres was down"], seconds=60)
        await asyncio.sleep(1)
        stop_writing.set()
        await writing
        phases["after Postgres came back"] = len(committed)

        async def applied() -> tuple[int, int]:
            async with engine.connect() as conn:
                total = (await conn.execute(select(func.count()).select_from(effects))).scalar_one()
                distinct = (
                    await conn.execute(select(func.count(effects.c.event_id.distinct())))
                ).scalar_one()
            return int(total), int(distinct)

        for _ in range(900):
            try:
                if (await applied())[1] >= len(committed):
                    break
            except (DBAPIError, OSError):
                pass
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        total, distinct = await applied()
        async with engine.connect() as conn:
            applied_ids = set((await conn.execute(select(effects.c.event_id))).scalars())
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=20)
        await broker.stop()
        await engine.dispose()
        await drop_database(local_stack, url)

    print(f"\ncommitted {len(committed)} events, {failed_writes} writes refused during outages")
    print("committed by the end of each phase:", phases)
    counts = [0, *phases.values()]
    written = {
        phase: b - a for phase, (a, b) in zip(phases, itertools.pairwise(counts), strict=True)
    }
    for phase in (
        "before the outages",
        "while Kafka was down",
        "after Kafka came back",
        "after Postgres came back",
    ):
        assert written[phase] > 0, f"no write committed {phase}: {written}"
    assert applied_ids == set(committed), f"lost: {len(set(committed) - applied_ids)}"
    assert total == distinct == len(committed), f"{total - distinct} applied twice"


async def _until_more(committed: list[str], *, than: int, seconds: float) -> None:
    """Waits until a write commits after the database's restart (the pool reconnects first)."""
    for _ in range(int(seconds * 10)):
        if len(committed) > than:
            return
        await asyncio.sleep(0.1)
