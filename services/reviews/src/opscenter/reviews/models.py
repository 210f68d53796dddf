"""The reviews service's tables, and only the reviews service's.

Invariants:
- ``plugins`` and ``installations`` are projections of the catalog's and the installer's events;
  nothing but their consumers writes them, except the rating summary columns on ``plugins``.
- A plugin's rating summary columns (``rating_count``, ``rating_sum``, ``rating_1``..``rating_5``)
  always equal the counts of its visible (not hidden) reviews: every review change recomputes
  them from the rows in the same transaction, holding the plugin row's lock.
- One review per user per plugin (``uq_reviews_plugin_id``); one helpful vote per user per review.
- ``installations`` holds one row per installation id: a redelivered or repeated installer event
  updates that row (when its ``sequence`` is newer), never adds one.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
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
    """A plugin as the catalog announced it, plus this service's rating summary of it. Its row
    lock is the per-plugin lock every review change takes first."""

    __tablename__ = "plugins"

    plugin_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    publisher_id: Mapped[str] = mapped_column(String(128))
    banned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ban_reason: Mapped[str | None] = mapped_column(Text)
    rating_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rating_sum: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    rating_1: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rating_2: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rating_3: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rating_4: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rating_5: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)


class InstallationProjection(Base):
    """One tenant's installation of a plugin, from ``installer.installation`` events.
    ``installed`` is true from installed until uninstalled (disabled is still installed)."""

    __tablename__ = "installations"
    __table_args__ = (Index("ix_installations_tenant_plugin", "tenant_id", "plugin_id"),)

    installation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(128))
    plugin_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    version: Mapped[str] = mapped_column(String(256))
    installed: Mapped[bool] = mapped_column(Boolean)
    sequence: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)


class Review(Base):
    """A user's review of a plugin their tenant installed; ``version`` is the version the
    tenant had installed when it was written. The developer's one reply lives on the row."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("plugin_id", "user_id"),
        # One index per sort order of the keyset pages (newest first within a rating); the
        # rating filter and the summary recompute use the lowest-first one.
        Index("ix_reviews_newest", "plugin_id", text("created_at DESC"), text("id DESC")),
        Index(
            "ix_reviews_helpful",
            "plugin_id",
            text("helpful_count DESC"),
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_reviews_highest",
            "plugin_id",
            text("rating DESC"),
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index("ix_reviews_lowest", "plugin_id", "rating", text("created_at DESC"), text("id DESC")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    plugin_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("plugins.plugin_id")
    )
    tenant_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128))
    rating: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(256))
    helpful_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    hidden: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    reply_body: Mapped[str | None] = mapped_column(Text)
    reply_author_id: Mapped[str | None] = mapped_column(String(128))
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)


class HelpfulVote(Base):
    __tablename__ = "helpful_votes"

    review_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)


class ModerationEntry(Base):
    """Who hid or unhid a review, when and why; kept after the review is deleted."""

    __tablename__ = "moderation_log"
    __table_args__ = (Index("ix_moderation_log_review", "review_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    review_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    plugin_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_NOW)


class WriteAllowance(Base):
    """Per-user write rate limit, shared by every API process: the writes a user made in the
    fixed window that started at ``window_start``."""

    __tablename__ = "write_allowances"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    writes: Mapped[int] = mapped_column(Integer)
