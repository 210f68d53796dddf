"""Replays a dead-letter topic into the topic its records came from.

    python -m opscenter.servicekit.dlq replay <topic> [--consumer <group>]
    (Kafka at OPSCENTER_KAFKA_BOOTSTRAP, or --bootstrap host:port)

Each record of ``<topic>.dlq`` not replayed before is published again to ``<topic>`` with its key
and its own headers (``traceparent`` included: the replay continues the event's trace), less the
``dlq-*`` headers the consumer added. Replaying to every consumer group is safe: consumers are
idempotent (their inbox), so a group that had applied an event skips it and only the one that
failed applies it. ``--consumer`` replays only what that group dead-lettered; the others'
records are passed over. The group ``ops.dlq-replay`` commits what was read, so a second run
starts after the first; a run stops at the end the dead-letter topic had when it started.
"""

from __future__ import annotations

import argparse
import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from opscenter.servicekit.kafka import create_producer
from opscenter.servicekit.settings import ServiceSettings

REPLAY_GROUP = "ops.dlq-replay"
DLQ_HEADER_PREFIX = "dlq-"


def replay_headers(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The record's headers as its producer sent them: the consumer's dlq-* ones removed."""
    return [(k, v) for k, v in headers if not k.startswith(DLQ_HEADER_PREFIX)]


def dead_lettered_by(headers: list[tuple[str, bytes]]) -> str | None:
    return next((v.decode() for k, v in headers if k == "dlq-consumer"), None)


async def replay(
    bootstrap: str, topic: str, *, consumer: str | None = None, group: str = REPLAY_GROUP
) -> int:
    """Publishes the dead-letter records of ``topic`` (of ``consumer`` only, if given) back to it;
    returns how many. Offsets are committed after each batch is published (acks=all): a run
    killed midway publishes a batch at most twice, which the consumers' inboxes absorb."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = create_producer(bootstrap, client_id=group)
    await reader.start()
    await producer.start()
    replayed = 0
    try:
        dlq = f"{topic}.dlq"
        partitions = [TopicPartition(dlq, p) for p in sorted(await _partitions(bootstrap, dlq))]
        reader.assign(partitions)
        end = await reader.end_offsets(partitions)
        for tp in partitions:
            committed = await reader.committed(tp)
            if committed is None:
                await reader.seek_to_beginning(tp)
            else:
                reader.seek(tp, committed)
        while [tp for tp in partitions if await reader.position(tp) < end[tp]]:
            batches = await reader.getmany(timeout_ms=1000, max_records=500)
            for records in batches.values():
                for record in records:
                    headers = list(record.headers)
                    if consumer is not None and dead_lettered_by(headers) != consumer:
                        continue
                    await producer.send_and_wait(
                        topic, record.value, key=record.key, headers=replay_headers(headers)
                    )
                    replayed += 1
            if batches:
                await reader.commit()
    finally:
        await producer.stop()
        await reader.stop()
    return replayed


async def _partitions(bootstrap: str, topic: str) -> set[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        raise SystemExit(f"no topic {topic}")
    return {p["partition"] for p in described["partitions"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=["replay"])
    parser.add_argument("topic", help="the topic whose <topic>.dlq is replayed")
    parser.add_argument("--consumer", help="only records this consumer group dead-lettered")
    parser.add_argument("--bootstrap", help="Kafka (default: OPSCENTER_KAFKA_BOOTSTRAP)")
    args = parser.parse_args()
    bootstrap = args.bootstrap or ServiceSettings().kafka_bootstrap
    count = asyncio.run(replay(bootstrap, args.topic, consumer=args.consumer))
    print(f"replayed {count} record(s) from {args.topic}.dlq to {args.topic}")


if __name__ == "__main__":
    main()
