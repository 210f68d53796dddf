"""HTTP shapes of deliveries, their attempts and replays."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opscenter.hooks.models import Delivery, DeliveryAttempt

DeliveryStatus = Literal["pending", "succeeded", "failed", "dead_lettered", "cancelled"]
FinishedStatus = Literal["succeeded", "failed", "dead_lettered", "cancelled"]


class AttemptRead(BaseModel):
    attempt: int
    started_at: datetime
    latency_ms: float
    outcome: Literal["succeeded", "failed", "gone"]
    status_code: int | None
    cause: str | None = Field(
        description="Handler attempts: ok, exception, timeout, memory, pids, cpu, refused, "
        "crashed, package (the package could not be used) or busy (no sandbox worker was "
        "free within the lease); null for webhooks"
    )
    error: str | None

    @classmethod
    def of(cls, a: DeliveryAttempt) -> AttemptRead:
        return cls.model_validate(a, from_attributes=True)


class DeliveryRead(BaseModel):
    id: uuid.UUID = Field(description="Also the webhook-id header of every attempt")
    installation_id: uuid.UUID
    event_id: str
    event_type: str
    target: Literal["webhook", "handler"]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When the next attempt is due")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    attempt_log: list[AttemptRead] = Field(description="Every attempt, oldest first")

    @classmethod
    def of(cls, d: Delivery, attempts: list[DeliveryAttempt]) -> DeliveryRead:
        return cls(
            id=d.id,
            installation_id=d.installation_id,
            event_id=d.event_id,
            event_type=d.event_type,
            target=d.target,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            updated_at=d.updated_at,
            attempt_log=[AttemptRead.of(a) for a in attempts],
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")


class ReplayWindow(BaseModel):
    """Replays every finished delivery created in ``[since, until)`` (``until``: now),
    optionally only those with ``status``."""

    model_config = ConfigDict(extra="forbid")

    since: datetime
    until: datetime | None = None
    status: FinishedStatus | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ReplayWindow:
        if self.since.tzinfo is None or (self.until is not None and self.until.tzinfo is None):
            raise ValueError("since and until need a time zone")
        if self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class ReplayAccepted(BaseModel):
    count: int = Field(description="How many deliveries were put back in the queue")
