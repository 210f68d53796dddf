"""Typed events: what a handler receives, ``{id, type, time, tenant_id, data}`` (the webhook
body's shape), with ``data`` parsed into the hook catalog's payload class (``DeviceCreatedV1``...).

``data`` is already trimmed to the installation's grant by the dispatcher; the payload classes
come from the contracts, so a field the platform adds appears here when the contracts add it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from opscenter.contracts.events import EventPayload
from opscenter.contracts.hook_events import HOOK_EVENTS, hook_event
from opscenter.contracts.platform import (
    DeviceAlertV1,
    DeviceCreatedV1,
    DeviceDeletedV1,
    DeviceUpdatedV1,
    TenantCreatedV1,
    TenantUpgradedV1,
    UserCreatedV1,
    UserLoginV1,
    UserLogoutV1,
)

__all__ = [
    "HOOK_EVENTS",
    "DeviceAlertV1",
    "DeviceCreatedV1",
    "DeviceDeletedV1",
    "DeviceUpdatedV1",
    "Event",
    "TenantCreatedV1",
    "TenantUpgradedV1",
    "UserCreatedV1",
    "UserLoginV1",
    "UserLogoutV1",
    "parse_event",
]

P = TypeVar("P", bound=EventPayload)


@dataclass(frozen=True)
class Event(Generic[P]):
    id: str
    type: str
    time: datetime | None
    tenant_id: str | None
    data: P
    raw: Mapping[str, Any]


def parse_event(event: Mapping[str, Any] | Event[Any]) -> Event[Any]:
    """The delivered event as an ``Event`` with a typed ``data``; ``UnknownEventType`` when
    ``type`` is not in the hook catalog."""
    if isinstance(event, Event):
        return event
    spec = hook_event(str(event.get("type")))
    data = spec.payload_class.model_validate(event.get("data") or {})
    stamp = event.get("time")
    return Event(
        id=str(event.get("id")),
        type=spec.name,
        time=datetime.fromisoformat(stamp) if isinstance(stamp, str) else None,
        tenant_id=None if event.get("tenant_id") is None else str(event["tenant_id"]),
        data=data,
        raw=dict(event),
    )
