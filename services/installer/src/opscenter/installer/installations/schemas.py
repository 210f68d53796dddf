"""HTTP bodies of the installer's endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema, field_validator

from opscenter.contracts.fields import PositiveMoneyString, UtcDatetimeString
from opscenter.contracts.permissions import Permission
from opscenter.contracts.semver import (
    RANGE_PATTERN,
    SEMVER_PATTERN,
    is_valid_range,
    is_valid_version,
)
from opscenter.servicekit.bounded import MAX_STORED_JSON_BYTES, stored_json_limit

#: A plugin's config as a tenant sends it: stored and answered in every listing, so capped.
StoredConfig = Annotated[
    dict[str, Any],
    stored_json_limit(),
    Field(description=f"At most {MAX_STORED_JSON_BYTES} bytes as compact JSON"),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: A permission the tenant consents to: one of the catalog's names (the schema lists them).
PermissionName = Annotated[
    str, WithJsonSchema({"type": "string", "enum": sorted(p.value for p in Permission)})
]


class PlanPin(_Body):
    plugin: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=256)


class InstallCreate(_Body):
    """``plugin`` is a slug or UUID; ``version`` an npm range (default: the newest installable).
    ``plan``, when sent (e.g. from a dry run), must equal the plan the server resolves."""

    plugin: str = Field(min_length=1, max_length=64)
    version: (
        Annotated[
            str,
            Field(min_length=1, max_length=256),
            WithJsonSchema({"type": "string", "pattern": RANGE_PATTERN, "maxLength": 256}),
        ]
        | None
    ) = None
    config: StoredConfig = Field(default_factory=dict)
    dependency_config: Annotated[dict[str, StoredConfig], stored_json_limit()] = Field(
        default_factory=dict
    )
    accept_permissions: list[PermissionName] = Field(default_factory=list, max_length=50)
    enable: StrictBool = True
    dry_run: StrictBool = False
    plan: list[PlanPin] | None = None

    @field_validator("version")
    @classmethod
    def _range(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_range(value):
            raise ValueError(f"{value!r} is not a version range (npm syntax, e.g. '^1.2.0')")
        return value


Cascade = Literal["none", "disable", "uninstall"]


class UninstallCreate(_Body):
    cascade: Cascade = "none"


class DisableCreate(_Body):
    cascade: Literal["none", "disable"] = "none"
    reason: str | None = Field(default=None, max_length=2000)


class ConfigUpdate(_Body):
    config: StoredConfig


class UpgradeCreate(_Body):
    version: str = Field(min_length=1, max_length=256, pattern=SEMVER_PATTERN)
    accept_permissions: list[PermissionName] = Field(default_factory=list, max_length=50)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not is_valid_version(value):
            raise ValueError(f"{value!r} is not a version such as '1.2.3'")
        return value


class EntitlementCreate(_Body):
    """What an operator's billing system sends when a tenant paid for a plugin."""

    tenant_id: str = Field(min_length=1, max_length=128)
    plugin: str = Field(min_length=1, max_length=64)
    kind: Literal["monthly", "yearly", "lifetime"]
    period_end: UtcDatetimeString | None = None
    gross: PositiveMoneyString
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class HistoryRead(BaseModel):
    sequence: int
    action: str
    from_state: str
    to_state: str
    version: str
    actor_id: str | None
    reason: str | None
    at: datetime


class EntitlementView(BaseModel):
    id: str
    kind: str
    status: str
    period_end: str | None
    gross: str
    developer_share: str
    platform_share: str
    currency: str


class ConsentRead(BaseModel):
    version: str
    permissions: list[str]
    granted_by: str
    granted_at: datetime


class InstallationRead(BaseModel):
    id: str
    plugin: str
    plugin_id: str
    version: str
    state: str
    granted_permissions: list[str]
    config: dict[str, Any]
    entitlement: EntitlementView | None = None
    dependencies: dict[str, str] = Field(default_factory=dict)
    reason: str | None = None
    retryable: bool | None = None
    target_version: str | None = None
    plan_id: str | None = None
    updated_at: datetime
    history: list[HistoryRead] | None = None
    consents: list[ConsentRead] | None = None


class InstallationPage(BaseModel):
    items: list[InstallationRead]
    next_cursor: str | None = None


class FieldErrorRead(BaseModel):
    field: str
    message: str


class ChargeRead(BaseModel):
    """What installing means for the tenant's bill (``entitlements.Charge``)."""

    kind: Literal["free", "entitled", "trial", "payment_required"]
    detail: str
    trial_days: int | None = None
    entitlement: str | None = None


class PlanItemRead(BaseModel):
    plugin: str
    plugin_id: str
    version: str
    role: Literal["requested", "dependency"]
    permissions: list[str]
    pricing: dict[str, Any]
    charge: ChargeRead
    config_errors: list[FieldErrorRead]
    signed: bool
    yanked: bool


class KeptRead(BaseModel):
    plugin: str
    version: str


class PlanRead(BaseModel):
    """A resolved plan: the installations it adds, in order, and the ones it keeps."""

    items: list[PlanItemRead]
    kept: list[KeptRead]
    permissions: list[str]
    missing_permissions: list[str]
    config_errors: list[FieldErrorRead]
    payment_required: list[str]
    plan_id: str | None = None


class InstallAccepted(BaseModel):
    """202: the plan is recorded; the worker installs it."""

    installation: InstallationRead
    plan: PlanRead


class DryRunPlan(BaseModel):
    """200: what the install would do; nothing changed."""

    dry_run: Literal[True]
    plan: PlanRead
