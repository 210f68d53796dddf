"""The operator's dead-letter tool on the real Kafka: it lists what consumers parked in
``<topic>.dlq``, sends it back to ``<topic>`` without the ``dlq-*`` headers, only once however
often it runs, and with ``--consumer`` leaves the other consumers' messages for later."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from opscenter.contracts import Topic
from opscenter.servicekit.dlq import list_letters, replay
from opscenter.servicekit.kafka import ensure_topics
from opscenter.servicekit.testing import LocalStack

pytestmark = pytest.mark.integration


async def _original(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        for _ in range(50):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                got += [(r.value, dict(r.headers)) for r in records]
            if len(got) >= count:
                break
    finally:
        await consumer.stop()
    return got


async def test_dead_letters_are_listed_and_replayed_once(local_stack: LocalStack):
    bootstrap = local_stack.kafka_bootstrap
    topic = f"dlqtest.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [Topic(topic, key="test", partitions=1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n, consumer in enumerate(("a.group", "b.group", "a.group")):
            headers = {
                "ce_type": "device.created",
                "ce_id": f"event-{n}",
                "traceparent": f"00-{'1' * 32}-{'2' * 16}-01",
                "dlq-consumer": consumer,
                "dlq-error": "ValueError: no",
                "dlq-topic": topic,
                "dlq-partition": "0",
                "dlq-offset": str(n),
            }
            await producer.send_and_wait(
                f"{topic}.dlq",
                value=f"event-{n}".encode(),
                key=b"k",
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
    finally:
        await producer.stop()

    listed = [d.summary() for d in await list_letters(bootstrap, [topic])]
    assert [(d["id"], d["consumer"], d["replayed"]) for d in listed] == [
        ("event-0", "a.group", False),
        ("event-1", "b.group", False),
        ("event-2", "a.group", False),
    ]
    assert listed[0]["error"] == "ValueError: no"
    assert [d.summary()["id"] for d in await replay(bootstrap, topic, dry_run=True)] == [
        "event-0",
        "event-1",
        "event-2",
    ]

    # One consumer's messages: event-1 stays to be replayed, so event-2 will be sent again.
    sent = await replay(bootstrap, topic, consumer_name="a.group")
    assert [d.summary()["id"] for d in sent] == ["event-0", "event-2"]
    sent = await replay(bootstrap, topic)
    assert [d.summary()["id"] for d in sent] == ["event-1", "event-2"]
    assert await replay(bootstrap, topic) == []
    assert all(d.replayed for d in await list_letters(bootstrap, [topic]))

    back = await _original(bootstrap, topic, 4)
    assert [value for value, _ in back] == [b"event-0", b"event-2", b"event-1", b"event-2"]
    for _, headers in back:
        assert not [k for k in headers if k.startswith("dlq-")]
        assert headers["ce_type"] == b"device.created"
        assert headers["traceparent"].startswith(b"00-")
