"""Replaying a dead-letter topic (servicekit dlq.py) on the real Kafka."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from opscenter.contracts import Topic
from opscenter.servicekit.dlq import replay
from opscenter.servicekit.kafka import ensure_topics
from opscenter.servicekit.testing import LocalStack

pytestmark = pytest.mark.integration


async def _read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes, list]]:
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await reader.start()
    found: list[tuple[bytes, bytes, list]] = []
    try:
        for _ in range(20):
            for records in (await reader.getmany(timeout_ms=500)).values():
                found += [(r.key, r.value, list(r.headers)) for r in records]
            if len(found) >= expected:
                break
    finally:
        await reader.stop()
    return found


async def test_replays_one_consumers_records_with_their_headers_once(local_stack: LocalStack):
    bootstrap = local_stack.kafka_bootstrap
    topic = Topic(f"t.dlq-replay-{uuid.uuid4().hex[:8]}", key="test", partitions=2)
    await ensure_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n, group in enumerate(["svc.a", "svc.b", "svc.a"]):
            headers = [
                ("traceparent", f"00-{n:032x}-{n + 1:016x}-01".encode()),
                ("dlq-consumer", group.encode()),
                ("dlq-error", b"ValueError: boom"),
            ]
            await producer.send_and_wait(
                topic.dlq, f"event-{n}".encode(), key=f"k{n}".encode(), headers=headers
            )
    finally:
        await producer.stop()

    group = f"ops.dlq-replay-test-{uuid.uuid4().hex[:8]}"
    assert await replay(bootstrap, topic.name, consumer="svc.a", group=group) == 2
    replayed = await _read_all(bootstrap, topic.name, 2)
    assert sorted((key, value) for key, value, _ in replayed) == [
        (b"k0", b"event-0"),
        (b"k2", b"event-2"),
    ]
    for _, _, headers in replayed:
        assert [name for name, _ in headers] == ["traceparent"]
    # The group remembers: a second run finds nothing new, and nothing more reaches the topic.
    assert await replay(bootstrap, topic.name, consumer="svc.a", group=group) == 0
    assert len(await _read_all(bootstrap, topic.name, 3)) == 2
