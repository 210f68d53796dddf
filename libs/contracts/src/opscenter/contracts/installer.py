"""Events of the installer service.

``installer.installation`` (key ``tenant_id:plugin_id``): one event per lifecycle transition.
Every event carries the installation, its tenant and plugin, the version, the ``state`` the
transition led to, and ``sequence``, the installation's history row number (strictly increasing
per installation, so a projection can ignore anything not newer than what it holds).
Events that change what a plugin may see (installed, enabled, upgraded) carry the granted
permissions and the hook subscriptions the hooks service needs.
``config_updated`` carries changed key names only, never values. ``config_set`` carries the
installation's whole config for the hooks service (which puts it in a handler's context): the
non-secret values in clear, the secret ones only in a box sealed to the hooks service's public
key (ADR 0024), so no secret crosses Kafka readable.

``installer.entitlement`` (same key): what a tenant is entitled to use and what it paid;
``developer_amount + platform_amount == gross_amount``, split 70/30 by ``split_revenue``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, ClassVar, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from opscenter.contracts.events import EventPayload
from opscenter.contracts.fields import Money, SemVerStr, Slug, Text, UserRef, UtcDatetime
from opscenter.contracts.lifecycle import InstallationState
from opscenter.contracts.manifest import HookSpec
from opscenter.contracts.permissions import Permission
from opscenter.contracts.topics import INSTALLER_ENTITLEMENT, INSTALLER_INSTALLATION, Topic

__all__ = [
    "DEVELOPER_SHARE",
    "PLATFORM_SHARE",
    "EntitlementChangedV1",
    "InstallationConfigSetV1",
    "InstallationConfigUpdatedV1",
    "InstallationDisabledV1",
    "InstallationEnabledV1",
    "InstallationFailedV1",
    "InstallationInstalledV1",
    "InstallationRequestedV1",
    "InstallationUninstallRequestedV1",
    "InstallationUninstalledV1",
    "InstallationUpgradeRequestedV1",
    "InstallationUpgradedV1",
    "SealedConfigSecrets",
    "split_revenue",
]

DEVELOPER_SHARE = Decimal("0.70")
PLATFORM_SHARE = Decimal("0.30")
_CENT = Decimal("0.01")

S = InstallationState
_SETTLED = frozenset({S.INSTALLED, S.ENABLED, S.DISABLED})

_EX = {
    "installation_id": UUID("5a0c1f7e-8d2b-4e3c-9f1a-7b6d5c4e3f21"),
    "tenant_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "plugin_id": UUID("0b5e7c4e-2f7d-4c55-9a51-3f1f5d0c9a11"),
    "slug": "my-awesome-plugin",
    "version": "1.0.0",
    "actor_id": "user-17",
}
_EX_PERMS = [Permission.API_DEVICES_READ, Permission.STORAGE_WRITE]
_EX_HOOKS = [HookSpec(name="device.created", handler="backend.hooks:on_device_created")]

Reason = Annotated[Text, Field(max_length=2000)]


def split_revenue(gross: Decimal) -> tuple[Decimal, Decimal]:
    """``(developer, platform)``: 70% to the developer rounded half-even to the cent, the rest
    to the platform, so the two always add up to ``gross``."""
    developer = (gross * DEVELOPER_SHARE).quantize(_CENT, rounding=ROUND_HALF_EVEN)
    return developer, gross - developer


class _InstallationEvent(EventPayload):
    topic: ClassVar[Topic] = INSTALLER_INSTALLATION
    #: The states this transition may lead to.
    resulting_states: ClassVar[frozenset[InstallationState]]

    installation_id: UUID
    tenant_id: UserRef
    plugin_id: UUID
    slug: Slug
    version: SemVerStr
    state: InstallationState
    sequence: Annotated[int, Field(ge=1)]
    actor_id: UserRef | None = Field(
        default=None, description="who asked (a user id); absent when the system acted"
    )

    def partition_key(self) -> str:
        return f"{self.tenant_id}:{self.plugin_id}"

    @model_validator(mode="after")
    def _state_fits(self) -> Self:
        allowed = type(self).resulting_states
        if self.state not in allowed:
            raise ValueError(
                f"state {self.state.value!r} cannot follow {type(self).__name__} "
                f"(expected {', '.join(sorted(allowed))})"
            )
        return self


class InstallationRequestedV1(_InstallationEvent):
    """An install (or a retry of a failed one) was accepted and is in progress."""

    event_type: ClassVar[str] = "installer.installation.requested.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = frozenset({S.INSTALLING})

    granted_permissions: list[Permission] = Field(default_factory=list)
    enable: bool = Field(default=False, description="enable once installed")
    dependency_of: UUID | None = Field(
        default=None, description="the installation whose plan pulled this one in"
    )
    attempt: Annotated[int, Field(ge=1)] = 1

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "state": S.INSTALLING,
                "sequence": 1,
                "granted_permissions": _EX_PERMS,
                "enable": True,
            }
        )


class InstallationInstalledV1(_InstallationEvent):
    """The installation is in place (not yet enabled)."""

    event_type: ClassVar[str] = "installer.installation.installed.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = frozenset({S.INSTALLED})

    granted_permissions: list[Permission] = Field(default_factory=list)
    hooks: list[HookSpec] = Field(default_factory=list)
    dependencies: dict[Slug, SemVerStr] = Field(
        default_factory=dict, description="plugins this one depends on, at the installed version"
    )

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "state": S.INSTALLED,
                "sequence": 2,
                "granted_permissions": _EX_PERMS,
                "hooks": _EX_HOOKS,
            }
        )


class InstallationEnabledV1(_InstallationEvent):
    """The plugin runs for the tenant: its hooks are to be delivered from now on."""

    event_type: ClassVar[str] = "installer.installation.enabled.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = frozenset({S.ENABLED})

    granted_permissions: list[Permission] = Field(default_factory=list)
    hooks: list[HookSpec] = Field(default_factory=list)

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "state": S.ENABLED,
                "sequence": 3,
                "granted_permissions": _EX_PERMS,
                "hooks": _EX_HOOKS,
            }
        )


class InstallationDisabledV1(_InstallationEvent):
    """The plugin stopped running for the tenant: no more hook deliveries."""

    event_type: ClassVar[str] = "installer.installation.disabled.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = frozenset({S.DISABLED})

    reason: Reason | None = None
    cause: Literal["requested", "plugin_banned", "dependency_disabled"] = "requested"

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {**_EX, "state": S.DISABLED, "sequence": 4, "reason": "not needed this quarter"}
        )


class InstallationConfigUpdatedV1(_InstallationEvent):
    """The tenant changed the configuration; ``changed_keys`` are names only, never values."""

    event_type: ClassVar[str] = "installer.installation.config_updated.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = _SETTLED

    changed_keys: list[str] = Field(default_factory=list)

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {**_EX, "state": S.ENABLED, "sequence": 5, "changed_keys": ["api_key"]}
        )


class SealedConfigSecrets(BaseModel):
    """An installation's secret config values, sealed to one recipient's public key.

    ``box`` opens, with the recipient's private key and the installation id (its canonical
    text) as associated data, to the UTF-8 JSON object ``{dotted path: value}``. ``paths`` are
    the names only, so a reader can tell which fields are set without opening the box."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: Literal["x25519-hkdf-sha256-chacha20poly1305"]
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")] = Field(
        description="16 hex characters of the sha-256 of the recipient's public key"
    )
    paths: list[Annotated[str, Field(min_length=1, max_length=512)]]
    box: Annotated[str, Field(pattern=r"^v1\.[A-Za-z0-9_-]+$", max_length=1_000_000)]


class InstallationConfigSetV1(_InstallationEvent):
    """The installation's config as it now is, for the hooks service (handlers read it from
    their context). Emitted with the transition that set it (an install request, a config
    update, an upgrade) and carrying that transition's ``sequence``: a consumer keeps the config
    of the highest sequence it has seen (an operator's republish sends it again with the same
    sequence). ``config`` holds the non-secret values only; secret values (``secret_fields``
    of the version's ``config_schema``) are only in ``secrets``."""

    event_type: ClassVar[str] = "installer.installation.config_set.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = _SETTLED | {
        S.INSTALLING,
        S.UPDATING,
    }

    reason: Literal["install", "update", "upgrade", "republish"] = Field(
        description="what set it; 'republish': an operator re-sent the config as it is, with "
        "the installation's current sequence (a consumer holding that sequence keeps its own)"
    )
    config: dict[str, JsonValue] = Field(
        default_factory=dict, description="the config without its secret fields"
    )
    secrets: SealedConfigSecrets | None = Field(
        default=None, description="the secret fields, sealed to hooks; absent when none is set"
    )

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "state": S.INSTALLING,
                "sequence": 1,
                "reason": "install",
                "config": {"region": "eu-west-1", "poll_minutes": 15},
                "secrets": {
                    "algorithm": "x25519-hkdf-sha256-chacha20poly1305",
                    # Sealed to the development key (servicekit.sealing.DEV_PUBLIC_KEY) with
                    # the example's installation id: {"api_key": "example-api-key"}.
                    "key_id": "a8b4986e6b190858",
                    "paths": ["api_key"],
                    "box": (
                        "v1.EjAslYsgmielX9zwuDYNz7VczaEQl9n_4kDxjiU1mWUMuLMY6tKX4-5xXKGCpNxHyFU"
                        "mrJq-hceoSM0_Jz7NE_xGfLI__gY46ySNtPQ"
                    ),
                },
            }
        )


class InstallationUpgradeRequestedV1(_InstallationEvent):
    """An upgrade from ``version`` to ``to_version`` is in progress."""

    event_type: ClassVar[str] = "installer.installation.upgrade_requested.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = frozenset({S.UPDATING})

    to_version: SemVerStr
    granted_permissions: list[Permission] = Field(default_factory=list)

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "state": S.UPDATING,
                "sequence": 6,
                "to_version": "1.1.0",
                "granted_permissions": _EX_PERMS,
            }
        )


class InstallationUpgradedV1(_InstallationEvent):
    """The installation now runs ``to_version`` (== ``version``), in the state it had before."""

    event_type: ClassVar[str] = "installer.installation.upgraded.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = _SETTLED

    from_version: SemVerStr
    to_version: SemVerStr
    granted_permissions: list[Permission] = Field(default_factory=list)
    hooks: list[HookSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _version_is_target(self) -> Self:
        if self.version != self.to_version:
            raise ValueError("version must equal to_version after an upgrade")
        return self

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "version": "1.1.0",
                "state": S.ENABLED,
                "sequence": 7,
                "from_version": "1.0.0",
                "to_version": "1.1.0",
                "granted_permissions": _EX_PERMS,
                "hooks": _EX_HOOKS,
            }
        )


class InstallationFailedV1(_InstallationEvent):
    """An install, upgrade or uninstall failed. A failed install or uninstall leaves the
    installation ``failed``; a failed upgrade leaves it as it was (``version`` is the old one,
    ``to_version`` the one that failed). ``retryable`` says whether trying again can help."""

    event_type: ClassVar[str] = "installer.installation.failed.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = _SETTLED | {S.FAILED}

    operation: Literal["install", "upgrade", "uninstall"]
    reason: Reason
    retryable: bool
    to_version: SemVerStr | None = None

    @model_validator(mode="after")
    def _state_matches_operation(self) -> Self:
        if (self.operation == "upgrade") == (self.state == S.FAILED):
            raise ValueError(
                "a failed upgrade returns to its previous state; other failures are 'failed'"
            )
        return self

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {
                **_EX,
                "state": S.FAILED,
                "sequence": 2,
                "operation": "install",
                "reason": "artifact signature does not verify",
                "retryable": False,
            }
        )


class InstallationUninstallRequestedV1(_InstallationEvent):
    """An uninstall is in progress; ``cascade`` says what happens to dependents."""

    event_type: ClassVar[str] = "installer.installation.uninstall_requested.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = frozenset({S.UNINSTALLING})

    cascade: Literal["none", "disable", "uninstall"] = "none"

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate({**_EX, "state": S.UNINSTALLING, "sequence": 8})


class InstallationUninstalledV1(_InstallationEvent):
    """The installation is gone (its history stays)."""

    event_type: ClassVar[str] = "installer.installation.uninstalled.v1"
    resulting_states: ClassVar[frozenset[InstallationState]] = frozenset({S.UNINSTALLED})

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate({**_EX, "state": S.UNINSTALLED, "sequence": 9})


class EntitlementChangedV1(EventPayload):
    """What a tenant may use of a paid (or free) plugin changed: granted, renewed, canceled,
    expired. Amounts are what was charged for this change (0 for free and trials)."""

    event_type: ClassVar[str] = "installer.entitlement.changed.v1"
    topic: ClassVar[Topic] = INSTALLER_ENTITLEMENT

    entitlement_id: UUID
    tenant_id: UserRef
    plugin_id: UUID
    slug: Slug
    kind: Literal["free", "trial", "monthly", "yearly", "lifetime"]
    status: Literal["active", "canceled", "expired"]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    gross_amount: Money
    developer_amount: Money
    platform_amount: Money
    period_start: UtcDatetime
    period_end: UtcDatetime | None = Field(
        default=None, description="end of the paid period or trial; absent for free/lifetime"
    )

    def partition_key(self) -> str:
        return f"{self.tenant_id}:{self.plugin_id}"

    @model_validator(mode="after")
    def _amounts_add_up(self) -> Self:
        if self.developer_amount + self.platform_amount != self.gross_amount:
            raise ValueError("developer_amount + platform_amount must equal gross_amount")
        if self.kind in ("free", "trial") and self.gross_amount != 0:
            raise ValueError(f"a {self.kind} entitlement costs nothing")
        if self.period_end is not None and self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self

    @classmethod
    def example(cls) -> Self:
        gross = Decimal("29.99")
        developer, platform = split_revenue(gross)
        return cls(
            entitlement_id=UUID("c3d2e1f0-1a2b-4c3d-8e4f-5a6b7c8d9e0f"),
            tenant_id="3f2504e0-4f89-41d3-9a0c-0305e82c3301",
            plugin_id=UUID("0b5e7c4e-2f7d-4c55-9a51-3f1f5d0c9a11"),
            slug="my-awesome-plugin",
            kind="monthly",
            status="active",
            gross_amount=gross,
            developer_amount=developer,
            platform_amount=platform,
            period_start=datetime(2026, 1, 26, tzinfo=UTC),
            period_end=datetime(2026, 2, 26, tzinfo=UTC),
        )
