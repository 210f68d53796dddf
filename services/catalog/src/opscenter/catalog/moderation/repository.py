"""Moderation log writes and reads; version rows for yanking. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.catalog.models import ModerationEntry, PluginVersion


async def log(
    session: AsyncSession,
    *,
    plugin_id: uuid.UUID,
    action: str,
    actor_id: str,
    reason: str | None,
    version: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        ModerationEntry(
            id=uuid.uuid4(),
            plugin_id=plugin_id,
            action=action,
            version=version,
            actor_id=actor_id,
            reason=reason,
            details=details,
        )
    )
    await session.flush()


async def entries(
    session: AsyncSession,
    plugin_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[ModerationEntry]:
    stmt = select(ModerationEntry).where(ModerationEntry.plugin_id == plugin_id)
    if after is not None:
        stmt = stmt.where(
            or_(
                ModerationEntry.created_at < after[0],
                and_(ModerationEntry.created_at == after[0], ModerationEntry.id < after[1]),
            )
        )
    stmt = stmt.order_by(ModerationEntry.created_at.desc(), ModerationEntry.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def version_for_update(
    session: AsyncSession, plugin_id: uuid.UUID, number: str
) -> PluginVersion | None:
    stmt = (
        select(PluginVersion)
        .where(PluginVersion.plugin_id == plugin_id, PluginVersion.version == number)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()
