"""Events of the hooks service (topic ``hooks.delivery``, key = installation id).

Every event names the delivery, the installation it was for, and the platform event delivered:
``event_id`` is that event's CloudEvent id and ``event_name`` its type (``device.created``; the
name ``event_type`` is taken by the class attribute). ``attempt`` counts from 1;
``latency_ms`` is the duration of the attempt the event reports.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal, Self
from uuid import UUID

from pydantic import Field

from opscenter.contracts.events import EventPayload
from opscenter.contracts.fields import Text, UserRef, UtcDatetime
from opscenter.contracts.topics import HOOKS_DELIVERY, Topic

#: How a schedule is named in a manifest (and in every tick it makes).
SCHEDULE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

__all__ = [
    "DeliveryDeadLetteredV1",
    "DeliveryFailedV1",
    "DeliverySucceededV1",
    "EndpointBreakerClosedV1",
    "EndpointBreakerOpenedV1",
    "EndpointDisabledV1",
    "ScheduleTickV1",
]

StatusCode = Annotated[int, Field(ge=100, le=599)]
Error = Annotated[Text, Field(max_length=2000)]

_EX = {
    "delivery_id": UUID("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"),
    "installation_id": UUID("5a0c1f7e-8d2b-4e3c-9f1a-7b6d5c4e3f21"),
    "tenant_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "plugin_id": UUID("0b5e7c4e-2f7d-4c55-9a51-3f1f5d0c9a11"),
    "event_id": "6f1c2d3e-4b5a-4c6d-9e8f-7a6b5c4d3e2f",
    "event_name": "device.created",
    "target": "webhook",
}


class _DeliveryEvent(EventPayload):
    topic: ClassVar[Topic] = HOOKS_DELIVERY

    delivery_id: UUID
    installation_id: UUID
    tenant_id: UserRef
    plugin_id: UUID
    event_id: UserRef
    event_name: Annotated[Text, Field(max_length=200)]
    target: Literal["webhook", "handler"]
    attempt: Annotated[int, Field(ge=1)]
    latency_ms: Annotated[int, Field(ge=0)]

    def partition_key(self) -> str:
        return str(self.installation_id)


class DeliverySucceededV1(_DeliveryEvent):
    """The plugin accepted the event (2xx from its webhook, or its handler returned)."""

    event_type: ClassVar[str] = "hooks.delivery.succeeded.v1"

    status_code: StatusCode | None = None

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate({**_EX, "attempt": 1, "latency_ms": 87, "status_code": 200})


class DeliveryFailedV1(_DeliveryEvent):
    """An attempt failed; ``next_attempt_at`` is when it will be retried (absent: no retry)."""

    event_type: ClassVar[str] = "hooks.delivery.failed.v1"

    status_code: StatusCode | None = None
    error: Error
    next_attempt_at: UtcDatetime | None = None

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "attempt": 2,
                "latency_ms": 10000,
                "status_code": 503,
                "error": "HTTP 503 Service Unavailable",
                "next_attempt_at": datetime(2026, 1, 26, 19, 5, tzinfo=UTC),
            }
        )


class DeliveryDeadLetteredV1(_DeliveryEvent):
    """Retries are exhausted; the delivery waits for a manual replay."""

    event_type: ClassVar[str] = "hooks.delivery.dead_lettered.v1"

    status_code: StatusCode | None = None
    error: Error

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "attempt": 8,
                "latency_ms": 10000,
                "status_code": None,
                "error": "timed out after 10s",
            }
        )


class EndpointDisabledV1(_DeliveryEvent):
    """The installation's endpoint failed too often and gets no deliveries until re-enabled;
    the delivery named is the one that tipped it over."""

    event_type: ClassVar[str] = "hooks.endpoint.disabled.v1"

    url: Annotated[str, Field(max_length=2048)] | None = None
    reason: Error
    consecutive_failures: Annotated[int, Field(ge=1)]

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "attempt": 8,
                "latency_ms": 10000,
                "url": "https://hooks.example.com/ops",
                "reason": "50 consecutive failures",
                "consecutive_failures": 50,
            }
        )


class EndpointBreakerOpenedV1(_DeliveryEvent):
    """The endpoint at ``url`` failed ``consecutive_failures`` times in a row: its circuit
    breaker opened and no delivery is sent there until a probe succeeds (from
    ``probe_at``). The delivery named is the one whose failure opened it."""

    event_type: ClassVar[str] = "hooks.endpoint.breaker_opened.v1"

    url: Annotated[str, Field(max_length=2048)]
    consecutive_failures: Annotated[int, Field(ge=1)]
    probe_at: UtcDatetime
    error: Error

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "attempt": 3,
                "latency_ms": 2,
                "url": "https://hooks.example.com/ops",
                "consecutive_failures": 5,
                "probe_at": datetime(2026, 1, 26, 19, 1, tzinfo=UTC),
                "error": "ConnectError: connection refused",
            }
        )


class EndpointBreakerClosedV1(_DeliveryEvent):
    """A probe of an open breaker's endpoint succeeded: deliveries to ``url`` resume. The
    delivery named is the probe; ``open_s`` is how long the breaker was open."""

    event_type: ClassVar[str] = "hooks.endpoint.breaker_closed.v1"

    url: Annotated[str, Field(max_length=2048)]
    open_s: Annotated[float, Field(ge=0)]

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "attempt": 4,
                "latency_ms": 35,
                "url": "https://hooks.example.com/ops",
                "open_s": 30.0,
            }
        )


class ScheduleTickV1(EventPayload):
    """One tick of a schedule the installation's manifest declares (``cron:schedule``), made
    by the hooks dispatcher and delivered like a hook event; it is never read from Kafka
    (ingest refuses it on ``ops.platform``). ``scheduled_for`` is the tick's time by the cron
    expression; a tick delivered late (retries, or the latest tick missed while no
    dispatcher ran) still names the time it was for. The topic is the owning service's."""

    event_type: ClassVar[str] = "schedule.tick"
    topic: ClassVar[Topic] = HOOKS_DELIVERY

    tenant_id: UserRef
    installation_id: UUID
    schedule: Annotated[str, Field(pattern=SCHEDULE_NAME_PATTERN)]
    cron: Annotated[Text, Field(max_length=200)]
    scheduled_for: UtcDatetime

    def partition_key(self) -> str:
        return str(self.installation_id)

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                "tenant_id": _EX["tenant_id"],
                "installation_id": _EX["installation_id"],
                "schedule": "nightly-report",
                "cron": "0 2 * * *",
                "scheduled_for": datetime(2026, 1, 26, 2, 0, tzinfo=UTC),
            }
        )
