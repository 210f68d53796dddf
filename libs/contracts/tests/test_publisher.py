"""The platform publisher: records keyed by tenant on ops.platform, with CloudEvents headers."""

from __future__ import annotations

from typing import Any

import pytest

from opscenter.contracts.envelope import CloudEvent
from opscenter.contracts.errors import ContractError
from opscenter.contracts.events import new_event, parse_payload
from opscenter.contracts.installer import InstallationEnabledV1
from opscenter.contracts.platform import DeviceCreatedV1, UserLoginV1
from opscenter.contracts.publisher import (
    KafkaRecord,
    PlatformEventPublisher,
    build_record,
    record_for_event,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class FakeProducer:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def send_and_wait(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        self.calls.append({"topic": topic, "value": value, "key": key, "headers": headers})


def test_build_record() -> None:
    payload = DeviceCreatedV1.example()
    record = build_record(payload, source="/opscenter/devices", traceparent=TRACEPARENT)
    topic, key, value, headers = record
    assert topic == "ops.platform"
    assert key == payload.tenant_id.encode()
    event = CloudEvent.from_json_bytes(value)
    assert event.type == "device.created"
    assert event.source == "/opscenter/devices"
    assert event.tenantid == payload.tenant_id
    assert parse_payload(event) == payload
    assert dict(headers) == {
        "content-type": b"application/cloudevents+json; charset=UTF-8",
        "ce_type": b"device.created",
        "ce_id": event.id.encode(),
        "traceparent": TRACEPARENT.encode(),
    }


def test_no_traceparent_header_without_one() -> None:
    record = build_record(UserLoginV1.example(), source="/opscenter/users")
    assert "traceparent" not in dict(record.headers)


def test_only_platform_events() -> None:
    with pytest.raises(ContractError, match="not a platform event"):
        build_record(InstallationEnabledV1.example(), source="/x")  # type: ignore[arg-type]


async def test_publish_sends_one_record() -> None:
    producer = FakeProducer()
    publisher = PlatformEventPublisher(producer)
    payload = UserLoginV1.example()
    event = await publisher.publish(payload, source="/opscenter/users", traceparent=TRACEPARENT)
    assert len(producer.calls) == 1
    call = producer.calls[0]
    assert call["topic"] == "ops.platform"
    assert call["key"] == payload.tenant_id.encode()
    assert CloudEvent.from_json_bytes(call["value"]) == event
    assert ("ce_id", event.id.encode()) in call["headers"]
    assert event.traceparent == TRACEPARENT


def test_record_for_any_event() -> None:
    payload = InstallationEnabledV1.example()
    record = record_for_event(new_event(payload, source="/opscenter/installer"))
    assert isinstance(record, KafkaRecord)
    assert record.topic == "installer.installation"
    assert record.key == f"{payload.tenant_id}:{payload.plugin_id}".encode()
