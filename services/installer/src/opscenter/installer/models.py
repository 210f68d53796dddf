"""The installer's tables, and only the installer's.

- ``catalog_plugins`` / ``catalog_versions`` / ``publisher_keys``: the projection of the catalog
  built from ``catalog.plugin`` and ``catalog.publisher`` events (never read from the catalog's DB).
- ``installations``: one row per (tenant, plugin), reused when a plugin is installed again, so
  the unique constraint makes two concurrent installs of one plugin in one tenant collide.
- ``installation_history``: one row per transition, numbered by ``sequence`` (the events' sequence).
- ``consents``: who granted which permissions to which version, when.
- ``entitlements``: the ledger (free, trial, monthly, yearly, lifetime), apart from the lifecycle;
  ``trials`` remembers forever that a tenant used a plugin's trial.
- ``tenant_plans``: a row per tenant locked (FOR UPDATE) while a plan is computed and written.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from opscenter.servicekit.db import NAMING_CONVENTION
from opscenter.servicekit.driver import DriverRows
from opscenter.servicekit.idempotency import idempotency_table
from opscenter.servicekit.inbox import inbox_table
from opscenter.servicekit.outbox import outbox_table

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DriverRows, DeclarativeBase):
    """The installer's models; ``DriverRows``: their driver snapshots refuse assignment."""

    metadata = metadata


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
idempotency_keys = idempotency_table(metadata)

_NOW = func.now()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CatalogPlugin(Base):
    """A plugin as the catalog announced it; ``banned`` blocks installs and disables them."""

    __tablename__ = "catalog_plugins"

    plugin_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    publisher_id: Mapped[str] = mapped_column(String(128))
    banned: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    ban_reason: Mapped[str | None] = mapped_column(Text)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    deprecation_reason: Mapped[str | None] = mapped_column(Text)
    replacement_slug: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_NOW, onupdate=_NOW
    )


class CatalogVersion(Base):
    """An installable version: manifest, dependency ranges, permissions, config schema, pricing,
    digest and signature. A yanked version is refused except by an exact pin."""

    __tablename__ = "catalog_versions"

    plugin_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_plugins.plugin_id"), primary_key=True
    )
    version: Mapped[str] = mapped_column(String(256), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), index=True)
    publisher_id: Mapped[str] = mapped_column(String(128))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONB)
    dependencies: Mapped[dict[str, str]] = mapped_column(JSONB)
    permissions: Mapped[list[str]] = mapped_column(JSONB)
    config_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    pricing: Mapped[dict[str, Any]] = mapped_column(JSONB)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str | None] = mapped_column(String(128))
    signing_key_id: Mapped[str | None] = mapped_column(String(128))
    yanked: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    yank_reason: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PublisherKey(Base):
    """A publisher's ed25519 signing key (base64 raw 32 bytes); revoked keys verify nothing."""

    __tablename__ = "publisher_keys"

    publisher_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(128))
    algorithm: Mapped[str] = mapped_column(String(20))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TenantPlan(Base):
    """Locked while a tenant's plan is resolved and written, so plans of one tenant serialise."""

    __tablename__ = "tenant_plans"

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_NOW, onupdate=_NOW
    )


class Installation(Base):
    """A plugin in a tenant. ``sequence`` is the number of its last history row. ``config``
    holds non-secret values; ``secret_config`` the encrypted secrets (never returned)."""

    __tablename__ = "installations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "plugin_id"),
        Index("ix_installations_tenant_slug", "tenant_id", "slug"),
        Index("ix_installations_plugin_state", "plugin_id", "state"),
        Index("ix_installations_plan_id", "plan_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(128))
    plugin_id: Mapped[uuid.UUID] = mapped_column()
    slug: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(256))
    digest: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    plan_id: Mapped[uuid.UUID | None] = mapped_column()
    plan_position: Mapped[int] = mapped_column(Integer, default=0)
    dependency_of: Mapped[uuid.UUID | None] = mapped_column()
    enable_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    previous_state: Mapped[str | None] = mapped_column(String(20))
    target_version: Mapped[str | None] = mapped_column(String(256))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    secret_config: Mapped[str | None] = mapped_column(Text)
    granted_permissions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    status_reason: Mapped[str | None] = mapped_column(Text)
    retryable: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, server_default=_NOW
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, server_default=_NOW
    )


class InstallationHistory(Base):
    """One row per transition; ``sequence`` is strictly increasing per installation."""

    __tablename__ = "installation_history"
    __table_args__ = (UniqueConstraint("installation_id", "sequence"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    installation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("installations.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    version: Mapped[str] = mapped_column(String(256))
    actor_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, server_default=_NOW
    )


class Consent(Base):
    """A tenant admin granted ``permissions`` to ``version`` of a plugin."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(128), index=True)
    installation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("installations.id"), index=True)
    plugin_id: Mapped[uuid.UUID] = mapped_column()
    version: Mapped[str] = mapped_column(String(256))
    permissions: Mapped[list[str]] = mapped_column(JSONB)
    granted_by: Mapped[str] = mapped_column(String(128))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)


class Entitlement(Base):
    """A ledger row: what the tenant may use and what it paid, split 70/30."""

    __tablename__ = "entitlements"
    __table_args__ = (Index("ix_entitlements_tenant_plugin", "tenant_id", "plugin_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(String(128))
    plugin_id: Mapped[uuid.UUID] = mapped_column()
    slug: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    gross: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    developer_share: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    platform_share: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, server_default=_NOW
    )


class Trial(Base):
    """A tenant used the trial of a plugin; kept forever so reinstalling does not restart it."""

    __tablename__ = "trials"

    tenant_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    plugin_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
