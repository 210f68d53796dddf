"""The hook-event catalog: which platform events a plugin may subscribe to, the permission
each needs, and how a delivery is trimmed to what the installation was granted.

Decisions:
- ``device.*`` needs ``api:devices:read`` and ``user.*`` needs ``api:users:read``.
- ``schedule.tick`` needs ``cron:schedule``: it is made by the hooks dispatcher from the
  manifest's ``schedules`` (``opscenter.contracts.schedules``), never published by the
  platform, and carries only the installation's own schedule, so every field is public.
- ``tenant.*`` needs no permission: an installation only ever receives events of its own
  tenant, and those events carry only the tenant's name and tier.
- A manifest that subscribes to an event must declare a permission covering the event's
  permission; the hooks service delivers an event only to installations whose grant covers it.

Trimming rule (``trim_payload``): a field survives when it is declared by the event's payload
model and is either public (identifiers: ``tenant_id``, ``device_id``, ``user_id``...) or covered
by the grant (``permissions.covers``: ``admin:*`` covers all, ``write`` covers ``read``).
Unknown fields are always dropped, so a producer adding a field never leaks it to plugins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opscenter.contracts.errors import UnknownEventType
from opscenter.contracts.events import EventPayload
from opscenter.contracts.hooks import ScheduleTickV1
from opscenter.contracts.permissions import Permission, covers
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
    "HANDLER_DEADLINE_S",
    "HANDLER_START_TIMEOUT_S",
    "HOOK_EVENTS",
    "HOOK_EVENT_NAMES",
    "HookEvent",
    "can_receive",
    "hook_event",
    "hook_events_matching",
    "is_hook_pattern",
    "is_known_hook_event",
    "matches_hook",
    "trim_payload",
]


#: A Python handler's wall-clock limit per event (seconds), unless the operator sets another: the
#: sandbox's default (``HOOKS_SANDBOX_DEADLINE_S``) and the SDK harness's limit, from one place.
HANDLER_DEADLINE_S = 10.0
#: Time a fresh handler worker has to import the plugin's code before its first event.
HANDLER_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class HookEvent:
    """One subscribable event: its payload class, the permission it needs (``None``: none),
    the fields every subscriber sees, and a description for the catalog."""

    name: str
    payload_class: type[EventPayload]
    permission: Permission | None
    public_fields: frozenset[str]
    description: str

    def example(self) -> dict[str, Any]:
        """The example payload as JSON-ready data."""
        return self.payload_class.example().model_dump(mode="json")

    def as_catalog_entry(self) -> dict[str, Any]:
        """What ``GET /hooks/events`` lists for this event."""
        return {
            "name": self.name,
            "permission": None if self.permission is None else self.permission.value,
            "description": self.description,
            "example": self.example(),
        }


_DEVICE_PUBLIC = frozenset({"tenant_id", "device_id"})
_USER_PUBLIC = frozenset({"tenant_id", "user_id"})


def _entry(
    cls: type[EventPayload], permission: Permission | None, public: frozenset[str], desc: str
) -> HookEvent:
    return HookEvent(cls.event_type, cls, permission, public, desc)


HOOK_EVENTS: Mapping[str, HookEvent] = {
    e.name: e
    for e in (
        _entry(DeviceCreatedV1, Permission.API_DEVICES_READ, _DEVICE_PUBLIC, "New device"),
        _entry(DeviceUpdatedV1, Permission.API_DEVICES_READ, _DEVICE_PUBLIC, "Device modified"),
        _entry(DeviceDeletedV1, Permission.API_DEVICES_READ, _DEVICE_PUBLIC, "Device removed"),
        _entry(DeviceAlertV1, Permission.API_DEVICES_READ, _DEVICE_PUBLIC, "Alert triggered"),
        _entry(UserCreatedV1, Permission.API_USERS_READ, _USER_PUBLIC, "New user"),
        _entry(UserLoginV1, Permission.API_USERS_READ, _USER_PUBLIC, "User logged in"),
        _entry(UserLogoutV1, Permission.API_USERS_READ, _USER_PUBLIC, "User logged out"),
        _entry(TenantCreatedV1, None, frozenset(), "New tenant"),
        _entry(TenantUpgradedV1, None, frozenset(), "Tier upgrade"),
        _entry(
            ScheduleTickV1,
            Permission.CRON_SCHEDULE,
            frozenset(ScheduleTickV1.model_fields),
            "A schedule declared in the manifest is due",
        ),
    )
}

HOOK_EVENT_NAMES: tuple[str, ...] = tuple(HOOK_EVENTS)


def is_known_hook_event(name: str) -> bool:
    """Whether a plugin may subscribe to ``name``."""
    return name in HOOK_EVENTS


def hook_events_matching(pattern: str) -> list[HookEvent]:
    """The events a manifest's hook name covers: itself, or each of a ``<family>.*``."""
    return [e for name, e in HOOK_EVENTS.items() if matches_hook(pattern, name)]


def is_hook_pattern(name: str) -> bool:
    """Whether a manifest may subscribe to ``name``: a known event, or ``<family>.*`` where
    the family has at least one event (``device.*``; not ``*`` nor ``device.created.*``)."""
    if name in HOOK_EVENTS:
        return True
    family, sep, star = name.rpartition(".")
    return star == "*" and bool(sep) and family.isidentifier() and bool(hook_events_matching(name))


def hook_event(name: str) -> HookEvent:
    """The catalog entry for ``name``; raises ``UnknownEventType``."""
    try:
        return HOOK_EVENTS[name]
    except KeyError:
        raise UnknownEventType(name) from None


def matches_hook(pattern: str, event_type: str) -> bool:
    """Whether a subscription to ``pattern`` (an event name, or ``<prefix>.*`` such as
    ``device.*``) covers ``event_type``."""
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def can_receive(event_type: str, granted: Iterable[str]) -> bool:
    """Whether an installation with ``granted`` permissions may be sent ``event_type``."""
    needed = hook_event(event_type).permission
    return needed is None or covers(granted, needed)


def trim_payload(
    event_type: str, data: Mapping[str, Any], granted: Iterable[str]
) -> dict[str, Any]:
    """A copy of ``data`` holding only the fields ``granted`` covers (see the module's rule)."""
    spec = hook_event(event_type)
    grant = list(granted)
    full = spec.permission is None or covers(grant, spec.permission)
    declared = spec.payload_class.model_fields
    return {
        key: value
        for key, value in data.items()
        if key in declared and (full or key in spec.public_fields)
    }
