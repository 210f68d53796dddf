"""Reads and writes of the entitlement ledger and trials (never commits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.installer.models import Entitlement, Trial


async def active(
    session: AsyncSession, tenant_id: str, plugin_id: uuid.UUID, now: datetime
) -> Sequence[Entitlement]:
    stmt = (
        select(Entitlement)
        .where(
            Entitlement.tenant_id == tenant_id,
            Entitlement.plugin_id == plugin_id,
            Entitlement.status == "active",
            or_(Entitlement.period_end.is_(None), Entitlement.period_end > now),
        )
        .order_by(Entitlement.created_at.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def trial(session: AsyncSession, tenant_id: str, plugin_id: uuid.UUID) -> Trial | None:
    return await session.get(Trial, (tenant_id, plugin_id))


async def of_tenant(session: AsyncSession, tenant_id: str) -> Sequence[Entitlement]:
    stmt = (
        select(Entitlement)
        .where(Entitlement.tenant_id == tenant_id)
        .order_by(Entitlement.created_at, Entitlement.id)
    )
    return (await session.execute(stmt)).scalars().all()
