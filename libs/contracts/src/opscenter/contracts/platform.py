"""Platform events (devices, users, tenants), published to ``ops.platform`` by the platform
services and delivered to plugins as hooks.

Invariants: ``event_type`` is exactly the seed's hook name (``device.created``...); every payload
carries ``tenant_id``, which is also the Kafka key and the envelope's ``tenantid``.
A breaking change would be a new class whose type ends in ``.v2`` (``device.created.v2``).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, model_validator

from opscenter.contracts.events import EventPayload
from opscenter.contracts.fields import Email, Text, UserRef
from opscenter.contracts.topics import OPS_PLATFORM, Topic

__all__ = [
    "DeviceAlertV1",
    "DeviceCreatedV1",
    "DeviceDeletedV1",
    "DeviceUpdatedV1",
    "PlatformEventPayload",
    "TenantCreatedV1",
    "TenantUpgradedV1",
    "UserCreatedV1",
    "UserLoginV1",
    "UserLogoutV1",
]

IpAddress = IPv4Address | IPv6Address
Name = Annotated[Text, Field(max_length=200)]
Tier = Annotated[Text, Field(max_length=64, description="Subscription tier, e.g. free, pro")]

_TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
_EXAMPLE_IP = ip_address("192.0.2.10")


class PlatformEventPayload(EventPayload):
    """A platform event: it belongs to one tenant and is ordered per tenant."""

    topic: ClassVar[Topic] = OPS_PLATFORM

    tenant_id: UserRef

    def partition_key(self) -> str:
        return self.tenant_id


class DeviceCreatedV1(PlatformEventPayload):
    """A device was added to the tenant's inventory."""

    event_type: ClassVar[str] = "device.created"

    device_id: UserRef
    name: Name
    kind: Annotated[Text, Field(max_length=64, description="server, router, sensor, ...")]
    ip: IpAddress | None = None

    @classmethod
    def example(cls) -> Self:
        return cls(
            tenant_id=_TENANT,
            device_id="dev-42",
            name="edge-router-1",
            kind="router",
            ip=_EXAMPLE_IP,
        )


class DeviceUpdatedV1(PlatformEventPayload):
    """A device changed; ``changed`` names the attributes that changed."""

    event_type: ClassVar[str] = "device.updated"

    device_id: UserRef
    name: Name
    kind: Annotated[Text, Field(max_length=64)]
    ip: IpAddress | None = None
    changed: list[str] = Field(default_factory=list)

    @classmethod
    def example(cls) -> Self:
        return cls(
            tenant_id=_TENANT,
            device_id="dev-42",
            name="edge-router-1",
            kind="router",
            ip=ip_address("192.0.2.11"),
            changed=["ip"],
        )


class DeviceDeletedV1(PlatformEventPayload):
    """A device was removed from the tenant's inventory."""

    event_type: ClassVar[str] = "device.deleted"

    device_id: UserRef
    name: Name | None = None

    @classmethod
    def example(cls) -> Self:
        return cls(tenant_id=_TENANT, device_id="dev-42", name="edge-router-1")


class DeviceAlertV1(PlatformEventPayload):
    """A device raised an alert."""

    event_type: ClassVar[str] = "device.alert"

    device_id: UserRef
    alert_id: UserRef
    severity: Literal["info", "warning", "critical"]
    message: Annotated[Text, Field(max_length=2000)]

    @classmethod
    def example(cls) -> Self:
        return cls(
            tenant_id=_TENANT,
            device_id="dev-42",
            alert_id="alert-7",
            severity="critical",
            message="CPU temperature above 90C for 5 minutes",
        )


class UserCreatedV1(PlatformEventPayload):
    """A user joined the tenant."""

    event_type: ClassVar[str] = "user.created"

    user_id: UserRef
    email: Email

    @classmethod
    def example(cls) -> Self:
        return cls(tenant_id=_TENANT, user_id="user-17", email="ada@example.com")


class UserLoginV1(PlatformEventPayload):
    """A user logged in; ``ip`` is where from, when known."""

    event_type: ClassVar[str] = "user.login"

    user_id: UserRef
    email: Email
    ip: IpAddress | None = None

    @classmethod
    def example(cls) -> Self:
        return cls(tenant_id=_TENANT, user_id="user-17", email="ada@example.com", ip=_EXAMPLE_IP)


class UserLogoutV1(PlatformEventPayload):
    """A user logged out (or their session ended)."""

    event_type: ClassVar[str] = "user.logout"

    user_id: UserRef
    email: Email
    ip: IpAddress | None = None

    @classmethod
    def example(cls) -> Self:
        return cls(tenant_id=_TENANT, user_id="user-17", email="ada@example.com", ip=_EXAMPLE_IP)


class TenantCreatedV1(PlatformEventPayload):
    """A tenant was created."""

    event_type: ClassVar[str] = "tenant.created"

    name: Name
    tier: Tier

    @classmethod
    def example(cls) -> Self:
        return cls(tenant_id=_TENANT, name="Acme Corp", tier="free")


class TenantUpgradedV1(PlatformEventPayload):
    """A tenant moved from one tier to another (``from_tier`` != ``to_tier``)."""

    event_type: ClassVar[str] = "tenant.upgraded"

    from_tier: Tier
    to_tier: Tier

    @model_validator(mode="after")
    def _tiers_differ(self) -> Self:
        if self.from_tier == self.to_tier:
            raise ValueError("from_tier and to_tier must differ")
        return self

    @classmethod
    def example(cls) -> Self:
        return cls(tenant_id=_TENANT, from_tier="free", to_tier="pro")
