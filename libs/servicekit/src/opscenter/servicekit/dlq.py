"""The operator's dead-letter tool: what sits in the ``<topic>.dlq`` topics, and sending it
back to its topic once the cause is fixed.

    python -m opscenter.servicekit.dlq list [TOPIC ...]
    python -m opscenter.servicekit.dlq replay TOPIC [--consumer NAME] [--dry-run]

(``--bootstrap``, else ``OPSCENTER_KAFKA_BOOTSTRAP``, names the broker; ``TOPIC`` is the
original topic, such as ``installer.installation``.) ``list`` reads every dead-letter topic (or
the ones named) from the start and prints one JSON line per message: where it came from, which
consumer gave up on it and why (the ``dlq-*`` headers the consumers write), the event's type
and id, and whether it was already replayed.

``replay`` publishes each message not yet replayed back to its original topic with its key,
value and original headers, then records how far it got as the offsets of the consumer group
``ops.dlq-replay``: a message is replayed once, however often the command runs. Sending a
message to every consumer group of its topic is safe because every consumer applies an event
once (its inbox): the groups that had applied it pass over it, and the one that gave up applies
it now. ``--consumer`` replays only what that consumer dead-lettered; the messages it leaves
out stay to be replayed (and any sent after one of them is sent again then, harmlessly).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from opscenter.contracts import ALL_TOPICS
from opscenter.servicekit.settings import ServiceSettings

REPLAY_GROUP = "ops.dlq-replay"
_DLQ_PREFIX = "dlq-"


@dataclass(frozen=True)
class DeadLetter:
    record: ConsumerRecord[bytes, bytes]
    replayed: bool

    def header(self, name: str) -> str | None:
        for key, value in self.record.headers or ():
            if key == name:
                return value.decode(errors="replace")
        return None

    def summary(self) -> dict[str, object]:
        return {
            "dlq_topic": self.record.topic,
            "partition": self.record.partition,
            "offset": self.record.offset,
            "topic": self.header("dlq-topic"),
            "consumer": self.header("dlq-consumer"),
            "error": self.header("dlq-error"),
            "type": self.header("ce_type"),
            "id": self.header("ce_id"),
            "replayed": self.replayed,
        }


async def read(bootstrap: str, dlq_topic: str) -> tuple[list[DeadLetter], AIOKafkaConsumer]:
    """Every message of ``dlq_topic`` up to its end as of now, each marked replayed or not
    by the replay group's committed offsets. The consumer is returned started (assigned, in
    the replay group, not subscribed), for ``replay`` to commit with; the caller stops it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([dlq_topic])
    finally:
        await admin.close()
    partitions = [
        TopicPartition(dlq_topic, p["partition"])
        for t in described
        if t["topic"] == dlq_topic and not t["error_code"]
        for p in t["partitions"]
    ]
    if not partitions:
        raise SystemExit(f"no topic {dlq_topic}")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=REPLAY_GROUP, enable_auto_commit=False
    )
    await consumer.start()
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    done = {tp: (await consumer.committed(tp)) or 0 for tp in partitions}
    letters: list[DeadLetter] = []
    pending = {tp for tp in partitions if ends[tp] > 0}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500)
        for tp, records in batches.items():
            letters += [DeadLetter(r, r.offset < done[tp]) for r in records if r.offset < ends[tp]]
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    return letters, consumer


async def list_letters(bootstrap: str, topics: Sequence[str]) -> list[DeadLetter]:
    found: list[DeadLetter] = []
    for topic in topics:
        letters, consumer = await read(bootstrap, f"{topic}.dlq")
        await consumer.stop()
        found += letters
    return found


async def replay(
    bootstrap: str, topic: str, *, consumer_name: str | None = None, dry_run: bool = False
) -> list[DeadLetter]:
    """Publishes the messages of ``<topic>.dlq`` not yet replayed (only ``consumer_name``'s
    when given) back to ``topic``; answers the ones sent."""
    letters, consumer = await read(bootstrap, f"{topic}.dlq")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    sent: list[DeadLetter] = []
    try:
        todo = [d for d in letters if not d.replayed]
        for letter in todo:
            if consumer_name is not None and letter.header("dlq-consumer") != consumer_name:
                continue
            if not dry_run:
                headers = [
                    (k, v) for k, v in letter.record.headers or () if not k.startswith(_DLQ_PREFIX)
                ]
                await producer.send_and_wait(
                    letter.header("dlq-topic") or topic,
                    value=letter.record.value,
                    key=letter.record.key,
                    headers=headers,
                )
            sent.append(letter)
        if sent and not dry_run:
            # Committed only after every send was acknowledged (a crash before this line
            # replays the same messages again, which the consumers' inboxes absorb), and per
            # partition only up to the first message left out, so it is replayed later.
            await consumer.commit(_replayed_up_to(todo, {id(d) for d in sent}))
    finally:
        await producer.stop()
        await consumer.stop()
    return sent


def _replayed_up_to(
    todo: Sequence[DeadLetter], sent: set[int]
) -> dict[TopicPartition, OffsetAndMetadata]:
    """Per partition, the offset after the last of the leading messages that were sent."""
    upto: dict[TopicPartition, int] = {}
    stopped: set[TopicPartition] = set()
    for letter in sorted(todo, key=lambda d: (d.record.partition, d.record.offset)):
        tp = TopicPartition(letter.record.topic, letter.record.partition)
        if tp in stopped:
            continue
        if id(letter) not in sent:
            stopped.add(tp)
            continue
        upto[tp] = letter.record.offset + 1
    return {tp: OffsetAndMetadata(offset, "") for tp, offset in upto.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    broker = argparse.ArgumentParser(add_help=False)
    broker.add_argument("--bootstrap", help="host:port (default: OPSCENTER_KAFKA_BOOTSTRAP)")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser(
        "list", parents=[broker], help="the dead-lettered messages, one JSON line each"
    )
    listing.add_argument("topics", nargs="*", help="original topics (default: every topic)")
    again = sub.add_parser(
        "replay", parents=[broker], help="send a topic's dead letters back to it"
    )
    again.add_argument("topic", help="the original topic, e.g. installer.installation")
    again.add_argument("--consumer", help="only what this consumer group dead-lettered")
    again.add_argument("--dry-run", action="store_true", help="show what would be sent")
    args = parser.parse_args(argv)
    bootstrap = args.bootstrap or ServiceSettings().kafka_bootstrap
    if args.command == "list":
        topics = args.topics or [t.name for t in ALL_TOPICS]
        for letter in asyncio.run(list_letters(bootstrap, topics)):
            print(json.dumps(letter.summary()))
        return
    sent = asyncio.run(
        replay(bootstrap, args.topic, consumer_name=args.consumer, dry_run=args.dry_run)
    )
    for letter in sent:
        print(json.dumps(letter.summary()))
    verb = "would replay" if args.dry_run else "replayed"
    print(json.dumps({verb: len(sent), "topic": args.topic}))


if __name__ == "__main__":
    main()
