"""Turning events into Kafka records, and the helper platform services publish with.

A record's value is the structured CloudEvent JSON; its key is the payload's partition key;
its headers are ``content-type``, ``ce_type``, ``ce_id`` and, when there is one, ``traceparent``
(so a consumer can route and trace without parsing the value).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from opscenter.contracts.envelope import CloudEvent
from opscenter.contracts.errors import ContractError
from opscenter.contracts.events import new_event, parse_payload
from opscenter.contracts.platform import PlatformEventPayload
from opscenter.contracts.topics import OPS_PLATFORM

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "KafkaProducer",
    "KafkaRecord",
    "PlatformEventPublisher",
    "build_record",
    "record_for_event",
]

CLOUDEVENTS_CONTENT_TYPE = b"application/cloudevents+json; charset=UTF-8"


class KafkaProducer(Protocol):
    """What the publisher needs of a producer (``aiokafka.AIOKafkaProducer`` fits)."""

    async def send_and_wait(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> Any: ...


class KafkaRecord(NamedTuple):
    """One record to produce: ``(topic, key, value, headers)``."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def record_for_event(event: CloudEvent) -> KafkaRecord:
    """The record for any registered event: topic and key come from its payload class.
    An outbox relay can call this on the stored envelope."""
    payload = parse_payload(event)
    headers = [
        ("content-type", CLOUDEVENTS_CONTENT_TYPE),
        ("ce_type", event.type.encode()),
        ("ce_id", event.id.encode()),
    ]
    if event.traceparent is not None:
        headers.append(("traceparent", event.traceparent.encode()))
    return KafkaRecord(
        topic=payload.topic.name,
        key=payload.partition_key().encode(),
        value=event.to_json_bytes(),
        headers=headers,
    )


def _platform_event(
    payload: PlatformEventPayload, source: str, traceparent: str | None
) -> CloudEvent:
    if not isinstance(payload, PlatformEventPayload) or payload.topic != OPS_PLATFORM:
        raise ContractError(f"{type(payload).__name__} is not a platform event", field="type")
    return new_event(payload, source=source, traceparent=traceparent)


def build_record(
    payload: PlatformEventPayload, *, source: str, traceparent: str | None = None
) -> KafkaRecord:
    """The record for a platform event: topic ``ops.platform``, key = tenant id."""
    return record_for_event(_platform_event(payload, source, traceparent))


class PlatformEventPublisher:
    """Publishes platform events (``device.created``...) the way every consumer expects."""

    def __init__(self, producer: KafkaProducer) -> None:
        self._producer = producer

    async def publish(
        self, payload: PlatformEventPayload, *, source: str, traceparent: str | None = None
    ) -> CloudEvent:
        """Send one event and wait for the broker's acknowledgement; returns the envelope."""
        event = _platform_event(payload, source, traceparent)
        record = record_for_event(event)
        await self._producer.send_and_wait(
            record.topic, value=record.value, key=record.key, headers=record.headers
        )
        return event
