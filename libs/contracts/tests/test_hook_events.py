"""The hook-event catalog and payload trimming to the installation's grant."""

from __future__ import annotations

import pytest

from opscenter.contracts.errors import UnknownEventType
from opscenter.contracts.events import payload_class
from opscenter.contracts.hook_events import (
    HOOK_EVENTS,
    can_receive,
    hook_event,
    is_known_hook_event,
    trim_payload,
)
from opscenter.contracts.permissions import Permission
from opscenter.contracts.platform import DeviceAlertV1, TenantUpgradedV1, UserLoginV1

SEED_EVENTS = [
    "device.created",
    "device.updated",
    "device.deleted",
    "device.alert",
    "user.created",
    "user.login",
    "user.logout",
    "tenant.created",
    "tenant.upgraded",
]
#: Not the seed's list: made by the hooks scheduler for manifests that declare schedules.
SCHEDULER_EVENTS = ["schedule.tick"]


def test_catalog_is_the_seed_list() -> None:
    assert list(HOOK_EVENTS) == SEED_EVENTS + SCHEDULER_EVENTS
    for name, entry in HOOK_EVENTS.items():
        assert payload_class(name) is entry.payload_class
        assert entry.payload_class.model_validate(entry.example())
        assert entry.description
        assert is_known_hook_event(name)
    assert not is_known_hook_event("device.exploded")


def test_permissions_per_event() -> None:
    perms = {name: e.permission for name, e in HOOK_EVENTS.items()}
    assert all(perms[n] is Permission.API_DEVICES_READ for n in SEED_EVENTS[:4])
    assert all(perms[n] is Permission.API_USERS_READ for n in SEED_EVENTS[4:7])
    assert perms["tenant.created"] is None
    assert perms["tenant.upgraded"] is None


def test_catalog_entry() -> None:
    entry = hook_event("user.login").as_catalog_entry()
    assert entry["permission"] == "api:users:read"
    assert entry["example"]["email"] == "ada@example.com"
    with pytest.raises(UnknownEventType):
        hook_event("nope")


def test_user_pii_needs_users_read() -> None:
    data = UserLoginV1.example().model_dump(mode="json")
    assert trim_payload("user.login", data, set()) == {
        "tenant_id": data["tenant_id"],
        "user_id": data["user_id"],
    }
    assert trim_payload("user.login", data, {"api:devices:read"}).keys() == {"tenant_id", "user_id"}
    assert trim_payload("user.login", data, {"api:users:read"}) == data


@pytest.mark.parametrize("grant", [{"api:users:write"}, {"admin:*"}])
def test_write_and_admin_cover_read(grant: set[str]) -> None:
    data = UserLoginV1.example().model_dump(mode="json")
    assert trim_payload("user.login", data, grant) == data


def test_device_details_need_devices_read() -> None:
    data = DeviceAlertV1.example().model_dump(mode="json")
    assert trim_payload("device.alert", data, {"storage:read"}) == {
        "tenant_id": data["tenant_id"],
        "device_id": data["device_id"],
    }
    assert trim_payload("device.alert", data, ["api:devices:read"]) == data


def test_tenant_events_need_nothing() -> None:
    data = TenantUpgradedV1.example().model_dump(mode="json")
    assert trim_payload("tenant.upgraded", data, set()) == data


def test_undeclared_fields_never_reach_a_plugin() -> None:
    data = {**UserLoginV1.example().model_dump(mode="json"), "password_hash": "x"}
    assert "password_hash" not in trim_payload("user.login", data, {"admin:*"})


def test_trim_copies() -> None:
    data = TenantUpgradedV1.example().model_dump(mode="json")
    out = trim_payload("tenant.upgraded", data, set())
    out["to_tier"] = "changed"
    assert data["to_tier"] == "pro"


def test_can_receive() -> None:
    assert can_receive("device.created", {"api:devices:read"})
    assert not can_receive("device.created", {"api:users:read"})
    assert can_receive("tenant.created", set())
    with pytest.raises(UnknownEventType):
        trim_payload("device.exploded", {}, set())
