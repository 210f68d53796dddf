"""Reads and writes of the entitlement ledger and trials (never commits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Uuid, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
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


# Read by every install request: built once (see installations.repository).
_ACTIVE_MANY = (
    select(Entitlement)
    .where(
        Entitlement.tenant_id == bindparam("tenant_id"),
        Entitlement.plugin_id == func.any(bindparam("plugin_ids", type_=ARRAY(Uuid))),
        Entitlement.status == "active",
        or_(Entitlement.period_end.is_(None), Entitlement.period_end > bindparam("now")),
    )
    .order_by(Entitlement.created_at.desc())
)


async def active_many(
    session: AsyncSession, tenant_id: str, plugin_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[Entitlement]]:
    """``active`` for several plugins in one query (each list newest first)."""
    out: dict[uuid.UUID, list[Entitlement]] = {p: [] for p in plugin_ids}
    if not plugin_ids:
        return out
    params = {"tenant_id": tenant_id, "plugin_ids": list(set(plugin_ids)), "now": now}
    for e in (await session.execute(_ACTIVE_MANY, params)).scalars():
        out.setdefault(e.plugin_id, []).append(e)
    return out


async def trials_used(
    session: AsyncSession, tenant_id: str, plugin_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    if not plugin_ids:
        return set()
    stmt = select(Trial.plugin_id).where(
        Trial.tenant_id == tenant_id, Trial.plugin_id.in_(list(set(plugin_ids)))
    )
    return set((await session.execute(stmt)).scalars())


async def trial(session: AsyncSession, tenant_id: str, plugin_id: uuid.UUID) -> Trial | None:
    return await session.get(Trial, (tenant_id, plugin_id))


async def of_tenant(session: AsyncSession, tenant_id: str) -> Sequence[Entitlement]:
    stmt = (
        select(Entitlement)
        .where(Entitlement.tenant_id == tenant_id)
        .order_by(Entitlement.created_at, Entitlement.id)
    )
    return (await session.execute(stmt)).scalars().all()
