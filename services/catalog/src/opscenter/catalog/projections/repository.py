"""Writes of the rating and install-count projections onto ``plugins``."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.catalog.models import InstallationProjection, Plugin


async def set_rating(
    session: AsyncSession,
    plugin_id: uuid.UUID,
    *,
    average: float,
    count: int,
    bayesian: float,
    histogram: dict[str, int],
) -> bool:
    result = await session.execute(
        update(Plugin)
        .where(Plugin.id == plugin_id)
        .values(
            rating_average=average,
            rating_count=count,
            rating_bayesian=bayesian,
            rating_histogram=histogram,
        )
        .returning(Plugin.id)
    )
    return result.first() is not None


async def installation_for_update(
    session: AsyncSession, installation_id: uuid.UUID
) -> InstallationProjection | None:
    stmt = (
        select(InstallationProjection)
        .where(InstallationProjection.installation_id == installation_id)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def upsert_installation(
    session: AsyncSession,
    *,
    installation_id: uuid.UUID,
    plugin_id: uuid.UUID,
    tenant_id: str,
    active: bool,
    sequence: int,
) -> None:
    stmt = insert(InstallationProjection).values(
        installation_id=installation_id,
        plugin_id=plugin_id,
        tenant_id=tenant_id,
        active=active,
        sequence=sequence,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["installation_id"],
            set_={"active": stmt.excluded.active, "sequence": stmt.excluded.sequence},
        )
    )


async def add_installs(session: AsyncSession, plugin_id: uuid.UUID, delta: int) -> None:
    await session.execute(
        update(Plugin)
        .where(Plugin.id == plugin_id)
        .values(install_count=Plugin.install_count + delta)
    )
