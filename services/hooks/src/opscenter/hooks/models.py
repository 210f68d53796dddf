"""The hooks service's tables, and only the hooks service's.

Invariants:
- ``subscriptions`` is a projection of ``installer.installation``: one row per installation, the
  newest applied ``sequence`` kept so a late or repeated transition never moves it back. Only a
  row whose ``state`` is ``enabled`` and whose plugin is not banned receives deliveries.
- ``platform_events`` holds each accepted platform event once per ``(source, event_id)``: a
  duplicate CloudEvent is fanned out once. Deliveries read their payload from it, so a replay
  sends what was published, trimmed to the grant the installation holds at send time.
- ``deliveries`` are the source of truth for what is owed to whom (Kafka offsets never hold retry
  state). A row is due when ``status`` is ``pending``, ``next_attempt_at`` has passed and its
  lease is unset or expired; within one ``lane`` (installation + aggregate) only the lowest
  ``seq`` not yet finished may be attempted, so a lane is delivered in order.
- ``delivery_attempts`` has one row per attempt, never updated.
- ``webhook_secrets`` hold Fernet ciphertexts only; a secret signs while ``expires_at`` is unset or
  in the future (a rotation gives the old one 24 h).
- ``endpoint_breakers`` has one row per webhook URL that failed: its circuit breaker.
- ``plugin_versions`` and ``publisher_keys`` project ``catalog.plugin`` and
  ``catalog.publisher``: what a handler's package must hash to and who must have signed it.
  A key revoked before its registration arrived is kept as a tombstone (empty ``public_key``).
- ``schedules`` is a projection of the ``schedules`` of published manifests, one row per
  ``(plugin_id, version, name)`` (versions are immutable). An installation is scheduled while
  its subscription is enabled, granted ``cron:schedule`` and its plugin is not banned; its
  ticks are deliveries of ``schedule.tick`` whose ``(installation_id, event_source,
  event_id)`` key names the schedule and the tick's time, so each tick exists once however
  many dispatchers compute it (ADR 0021).
- ``installation_configs`` projects ``config_set`` events: one row per installation, the
  highest ``sequence`` applied kept (apart from the subscription's), so an older config never
  replaces a newer one, whichever arrives first (an equal one, the same config resent,
  replaces it). Secret values are held only as the installer
  sealed them to this service's key (``secrets``); the dispatcher opens them per attempt, into
  a handler's context only (ADR 0024). An uninstall empties the row and keeps its sequence.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from opscenter.servicekit.db import NAMING_CONVENTION
from opscenter.servicekit.idempotency import idempotency_table
from opscenter.servicekit.inbox import inbox_table
from opscenter.servicekit.outbox import outbox_table

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    metadata = metadata


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
idempotency_keys = idempotency_table(metadata)

_NOW = func.now()


class PluginProjection(Base):
    """What hooks knows of a plugin from ``catalog.plugin``: who develops it, whether banned."""

    __tablename__ = "plugins"

    plugin_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    publisher_id: Mapped[str | None] = mapped_column(String(64))
    banned: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=_NOW
    )


class PluginVersion(Base):
    """A published version's package: its sha-256 and the publisher's ed25519 signature."""

    __tablename__ = "plugin_versions"

    plugin_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(64), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str | None] = mapped_column(String(128))
    signing_key_id: Mapped[str | None] = mapped_column(String(128))


class PublisherKey(Base):
    __tablename__ = "publisher_keys"

    publisher_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(128), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Subscription(Base):
    """One installation as the dispatcher needs it. ``hooks`` is the manifest's list of
    ``{name, handler | url}``; ``endpoint_url`` (set through the API) overrides every hook's
    ``url``; ``endpoint_disabled`` is set when the endpoint answered 410."""

    __tablename__ = "subscriptions"

    installation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    plugin_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    slug: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(32), nullable=False)
    sequence: Mapped[int] = mapped_column(BigInteger, nullable=False)
    granted_permissions: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    hooks: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    endpoint_url: Mapped[str | None] = mapped_column(String(2048))
    endpoint_disabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    #: When it last became enabled or changed version while enabled: no tick before it is owed.
    schedules_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=_NOW
    )

    __table_args__ = (Index("ix_subscriptions_tenant_state", "tenant_id", "state"),)


class InstallationConfig(Base):
    """An installation's config as handlers get it: ``config`` the non-secret values,
    ``secrets`` the sealed box of the secret ones (``SealedConfigSecrets`` as JSON) or None."""

    __tablename__ = "installation_configs"

    installation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    sequence: Mapped[int] = mapped_column(BigInteger, nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    secrets: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=_NOW
    )


class Schedule(Base):
    """One schedule of one published plugin version (the manifest's ``schedules``)."""

    __tablename__ = "schedules"

    plugin_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cron: Mapped[str] = mapped_column(String(200), nullable=False)


class WebhookSecret(Base):
    __tablename__ = "webhook_secrets"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    installation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    ciphertext: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=_NOW
    )
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_webhook_secrets_installation", "installation_id"),)


class PlatformEvent(Base):
    __tablename__ = "platform_events"

    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    type: Mapped[str] = mapped_column(String(200), nullable=False)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    traceparent: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=_NOW
    )


class Delivery(Base):
    """What is owed to one installation for one platform event (or one schedule tick)."""

    __tablename__ = "deliveries"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False, unique=True)
    installation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    plugin_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_source: Mapped[str] = mapped_column(String(512), nullable=False)
    event_id: Mapped[str] = mapped_column(String(256), nullable=False)
    event_type: Mapped[str] = mapped_column(String(200), nullable=False)
    lane: Mapped[str] = mapped_column(String(400), nullable=False)
    target: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=_NOW
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=_NOW
    )

    __table_args__ = (
        UniqueConstraint("installation_id", "event_source", "event_id"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_deliveries_lane_open", "lane", "seq", postgresql_where=text("status = 'pending'")
        ),
        Index("ix_deliveries_installation_created", "installation_id", "created_at", "id"),
    )


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    #: A handler attempt's cause (``ok``, ``timeout``, ``memory``, ``refused``...); None for
    #: webhooks.
    cause: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_delivery_attempts_delivery", "delivery_id", "attempt"),)


class EndpointBreaker(Base):
    """``state`` is ``closed``, ``open`` (no attempts until ``probe_at``) or ``half_open``
    (one probe in flight)."""

    __tablename__ = "endpoint_breakers"

    url: Mapped[str] = mapped_column(String(2048), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    consecutive_failures: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    probe_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=_NOW
    )
