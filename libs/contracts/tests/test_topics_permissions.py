"""Topics, consumer groups, and the permission catalog."""

from __future__ import annotations

import pytest

from opscenter.contracts.permissions import (
    PERMISSION_DESCRIPTIONS,
    Permission,
    covers,
    is_known_permission,
    missing_permissions,
)
from opscenter.contracts.topics import (
    ALL_TOPICS,
    INSTALLER_INSTALLATION,
    OPS_PLATFORM,
    consumer_group,
    topic_by_name,
)

SEED_PERMISSIONS = [
    "api:devices:read",
    "api:devices:write",
    "api:users:read",
    "api:users:write",
    "storage:read",
    "storage:write",
    "network:outbound",
    "cron:schedule",
    "admin:*",
]


def test_topics() -> None:
    names = [t.name for t in ALL_TOPICS]
    assert names == [
        "catalog.plugin",
        "catalog.publisher",
        "installer.installation",
        "installer.entitlement",
        "hooks.delivery",
        "reviews.review",
        "ops.platform",
    ]
    assert OPS_PLATFORM.dlq == "ops.platform.dlq"
    assert INSTALLER_INSTALLATION.key == "tenant_id:plugin_id"
    assert topic_by_name("ops.platform") is OPS_PLATFORM
    assert str(OPS_PLATFORM) == "ops.platform"
    with pytest.raises(KeyError):
        topic_by_name("nope")


def test_consumer_group() -> None:
    assert consumer_group("analytics", "install-stats") == "analytics.install-stats"
    for service, purpose in (("Analytics", "x"), ("analytics", "a.b"), ("", "x")):
        with pytest.raises(ValueError, match="lowercase"):
            consumer_group(service, purpose)


def test_permission_catalog_is_the_seed_list() -> None:
    assert [p.value for p in Permission] == SEED_PERMISSIONS
    assert all(PERMISSION_DESCRIPTIONS[p] == p.description for p in Permission)
    assert all(is_known_permission(p) for p in SEED_PERMISSIONS)
    assert not is_known_permission("api:tenants:read")


def test_coverage() -> None:
    assert covers({"api:devices:write"}, "api:devices:read")
    assert not covers({"api:devices:read"}, "api:devices:write")
    assert covers({"storage:write"}, "storage:read")
    assert all(covers({"admin:*"}, p) for p in SEED_PERMISSIONS)
    assert not covers(set(), "storage:read")
    assert missing_permissions({"api:users:write"}, ["api:users:read", "network:outbound"]) == {
        "network:outbound"
    }
