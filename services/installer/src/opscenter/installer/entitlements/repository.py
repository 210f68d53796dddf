"""Reads and writes of the entitlement ledger and trials (never commits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.installer.models import Entitlement
from opscenter.servicekit.driver import driver, select_from, snapshots

# Read by every install request: plain SQL on the unit of work's connection (ADR 0010).
_ACTIVE_MANY = select_from(Entitlement, "e") + (
    " WHERE e.tenant_id = $1 AND e.plugin_id = ANY($2::uuid[]) AND e.status = 'active'"
    " AND (e.period_end IS NULL OR e.period_end > $3)"
    " ORDER BY e.created_at DESC"
)
_TRIALS_USED = "SELECT plugin_id FROM trials WHERE tenant_id = $1 AND plugin_id = ANY($2::uuid[])"


async def active_snapshots(
    session: AsyncSession, tenant_id: str, plugin_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[Entitlement]]:
    """The active ledger rows of the tenant's ``plugin_ids`` at ``now``, per plugin (every id
    is a key), each list newest first: one query for any number of plugins."""
    out: dict[uuid.UUID, list[Entitlement]] = {p: [] for p in plugin_ids}
    if not plugin_ids:
        return out
    found = await snapshots(
        session, Entitlement, _ACTIVE_MANY, tenant_id, list(set(plugin_ids)), now
    )
    for e in found:
        out.setdefault(e.plugin_id, []).append(e)
    return out


async def trials_used(
    session: AsyncSession, tenant_id: str, plugin_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    if not plugin_ids:
        return set()
    rows = await (await driver(session)).fetch(_TRIALS_USED, tenant_id, list(set(plugin_ids)))
    return {r["plugin_id"] for r in rows}


async def of_tenant(session: AsyncSession, tenant_id: str) -> Sequence[Entitlement]:
    stmt = (
        select(Entitlement)
        .where(Entitlement.tenant_id == tenant_id)
        .order_by(Entitlement.created_at, Entitlement.id)
    )
    return (await session.execute(stmt)).scalars().all()
