"""The permissions a plugin may declare (the seed's list) and how a grant covers a need.

Coverage rule: ``admin:*`` covers every permission; ``<x>:write`` covers ``<x>:read``
(``api:devices:write`` covers ``api:devices:read``, ``storage:write`` covers ``storage:read``);
otherwise a permission covers only itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = [
    "PERMISSION_DESCRIPTIONS",
    "Permission",
    "covers",
    "is_known_permission",
    "missing_permissions",
]


class Permission(StrEnum):
    """A permission name exactly as written in ``plugin.yaml``."""

    API_DEVICES_READ = "api:devices:read"
    API_DEVICES_WRITE = "api:devices:write"
    API_USERS_READ = "api:users:read"
    API_USERS_WRITE = "api:users:write"
    STORAGE_READ = "storage:read"
    STORAGE_WRITE = "storage:write"
    NETWORK_OUTBOUND = "network:outbound"
    CRON_SCHEDULE = "cron:schedule"
    ADMIN_ALL = "admin:*"

    @property
    def description(self) -> str:
        """What a tenant admin consents to when granting this permission."""
        return PERMISSION_DESCRIPTIONS[self]


PERMISSION_DESCRIPTIONS: dict[Permission, str] = {
    Permission.API_DEVICES_READ: "Read device data (names, kinds, addresses, alerts)",
    Permission.API_DEVICES_WRITE: "Create, modify and delete devices",
    Permission.API_USERS_READ: "Read user data (email addresses, login activity)",
    Permission.API_USERS_WRITE: "Create and modify users",
    Permission.STORAGE_READ: "Read files in the plugin's storage",
    Permission.STORAGE_WRITE: "Write files in the plugin's storage",
    Permission.NETWORK_OUTBOUND: "Make outbound network (HTTP) requests",
    Permission.CRON_SCHEDULE: "Schedule background jobs",
    Permission.ADMIN_ALL: "Administrative operations; implies every other permission",
}


def is_known_permission(name: str) -> bool:
    """Whether ``name`` is one of the permissions a manifest may declare."""
    return name in Permission._value2member_map_


def _implied(granted: str) -> set[str]:
    if granted == Permission.ADMIN_ALL:
        return {p.value for p in Permission}
    implied = {granted}
    if granted.endswith(":write"):
        implied.add(granted[: -len("write")] + "read")
    return implied


def covers(granted: Iterable[str], needed: str) -> bool:
    """Whether a set of granted permissions covers ``needed`` (see the module's rule)."""
    return any(needed in _implied(g) for g in granted)


def missing_permissions(granted: Iterable[str], needed: Iterable[str]) -> set[str]:
    """The permissions in ``needed`` that ``granted`` does not cover."""
    grant = list(granted)
    return {n for n in needed if not covers(grant, n)}
