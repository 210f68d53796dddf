"""What a handler is given besides its event: the installation, its grant, its config, and an
HTTP client that exists only when ``network:outbound`` was granted.

The dispatcher passes ``context`` as a JSON object (``delivery_id``, ``attempt``,
``installation_id``, ``tenant_id``, ``plugin_id``, ``permissions``, ``config``, ``token``, and
``storage`` when storage was granted);
``Context.of`` reads it, ignoring keys it does not know so newer dispatchers stay compatible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opscenter.contracts.permissions import Permission, covers

if TYPE_CHECKING:
    import httpx

__all__ = ["Context", "PermissionNotGranted"]


class PermissionNotGranted(PermissionError):
    """The installation was not granted what the call needs."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"this installation was not granted {permission}")
        self.permission = permission


@dataclass(frozen=True)
class Context:
    delivery_id: str | None = None
    attempt: int = 1
    installation_id: str | None = None
    tenant_id: str | None = None
    plugin_id: str | None = None
    permissions: tuple[str, ...] = ()
    config: Any = None  # the typed config model when built by ``Plugin.context``
    token: str | None = None  # the installation token for the platform's API
    storage: str | None = None  # the storage folder, when storage:read or storage:write
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, context: Mapping[str, Any] | Context, config: Any = None) -> Context:
        if isinstance(context, Context):
            return context
        return cls(
            delivery_id=_str(context.get("delivery_id")),
            attempt=int(context.get("attempt") or 1),
            installation_id=_str(context.get("installation_id")),
            tenant_id=_str(context.get("tenant_id")),
            plugin_id=_str(context.get("plugin_id")),
            permissions=tuple(str(p) for p in context.get("permissions") or ()),
            config=config if config is not None else dict(context.get("config") or {}),
            token=_str(context.get("token")),
            storage=_str(context.get("storage")),
            raw=dict(context),
        )

    def granted(self, permission: str | Permission) -> bool:
        """Whether the grant covers ``permission`` (``admin:*`` covers all, write covers read)."""
        return covers(self.permissions, str(permission))

    def require(self, permission: str | Permission) -> None:
        if not self.granted(permission):
            raise PermissionNotGranted(str(permission))

    def http(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client; refused (``PermissionNotGranted``) without ``network:outbound``."""
        self.require(Permission.NETWORK_OUTBOUND)
        import httpx  # imported on use: a handler without the grant never pays for it

        kwargs.setdefault("timeout", 5.0)
        return httpx.Client(**kwargs)

    def api(self, base_url: str, **kwargs: Any) -> httpx.Client:
        """A client for the platform's API carrying the installation token (its grant only)."""
        self.require(Permission.NETWORK_OUTBOUND)
        import httpx

        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return httpx.Client(base_url=base_url, headers=headers, timeout=5.0, **kwargs)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
