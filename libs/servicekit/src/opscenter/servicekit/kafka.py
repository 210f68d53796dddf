"""Kafka clients built from settings: the idempotent producer, the FastStream broker, topics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

from opscenter.contracts import Topic
from opscenter.servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)


def create_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """Idempotent, acks=all: a retried send never duplicates or reorders within a partition."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    """The FastStream broker of a worker process. Consumers commit offsets themselves
    (see `consumer.py`), after the transaction that applied the events."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=settings.service_name,
        enable_idempotence=True,
        acks="all",
        middlewares=[KafkaTelemetryMiddleware()],
        logger=logging.getLogger(f"{settings.service_name}.broker"),
    )


async def ensure_topics(bootstrap: str, topics: Iterable[Topic], *, replication: int = 1) -> None:
    """Creates each topic and its dead-letter topic if missing, with ``replication`` copies
    (``kafka_topic_replication``); an existing topic is left as it is. Safe to run from every
    replica."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for topic in topics:
            for name in (topic.name, topic.dlq):
                if name not in existing:
                    wanted.append(NewTopic(name, topic.partitions, replication))
        if wanted:
            # Another replica may create one between our list and create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()
