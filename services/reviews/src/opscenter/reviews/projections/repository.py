"""Writes of the plugin and installation projections. Flushes, never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.reviews.models import InstallationProjection, PluginProjection


async def upsert_plugin(
    session: AsyncSession, *, plugin_id: uuid.UUID, slug: str, publisher_id: str
) -> None:
    """The listing's identity; the rating summary and ban columns are left as they are."""
    stmt = insert(PluginProjection).values(
        plugin_id=plugin_id, slug=slug, publisher_id=publisher_id
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["plugin_id"],
            set_={"slug": stmt.excluded.slug, "publisher_id": stmt.excluded.publisher_id},
        )
    )


async def ban_plugin(
    session: AsyncSession, plugin_id: uuid.UUID, *, at: datetime, reason: str
) -> bool:
    result = await session.execute(
        update(PluginProjection)
        .where(PluginProjection.plugin_id == plugin_id, PluginProjection.banned_at.is_(None))
        .values(banned_at=at, ban_reason=reason)
        .returning(PluginProjection.plugin_id)
    )
    return result.first() is not None


async def apply_installation(
    session: AsyncSession,
    *,
    installation_id: uuid.UUID,
    tenant_id: str,
    plugin_id: uuid.UUID,
    version: str,
    installed: bool,
    sequence: int,
) -> None:
    """One row per installation: a newer ``sequence`` replaces it; an older or repeated one
    changes nothing (so a replayed event never adds or rewinds a row)."""
    stmt = insert(InstallationProjection).values(
        installation_id=installation_id,
        tenant_id=tenant_id,
        plugin_id=plugin_id,
        version=version,
        installed=installed,
        sequence=sequence,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["installation_id"],
            set_={
                "version": stmt.excluded.version,
                "installed": stmt.excluded.installed,
                "sequence": stmt.excluded.sequence,
                "updated_at": stmt.excluded.updated_at,
            },
            where=InstallationProjection.sequence < stmt.excluded.sequence,
        )
    )
