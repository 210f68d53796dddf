"""Reads and writes of installations, their history and consents (never commits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import InstallationState
from opscenter.installer.models import (
    Consent,
    Installation,
    InstallationHistory,
    TenantPlan,
)

S = InstallationState

#: States in which an installation holds a version in the tenant (its constraints count).
LIVE_STATES = (S.INSTALLING, S.INSTALLED, S.ENABLED, S.DISABLED, S.UPDATING, S.UNINSTALLING)


async def lock_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Serialises plan changes of one tenant until the transaction ends."""
    await session.execute(insert(TenantPlan).values(tenant_id=tenant_id).on_conflict_do_nothing())
    await session.execute(
        select(TenantPlan.tenant_id).where(TenantPlan.tenant_id == tenant_id).with_for_update()
    )


async def get(
    session: AsyncSession, installation_id: uuid.UUID, *, lock: bool = False
) -> Installation | None:
    stmt = select(Installation).where(Installation.id == installation_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def find(
    session: AsyncSession, tenant_id: str, ref: str, *, lock: bool = False
) -> Installation | None:
    """The tenant's installation of a plugin named by UUID or slug; None for other tenants."""
    try:
        clause = Installation.plugin_id == uuid.UUID(ref)
    except ValueError:
        clause = Installation.slug == ref
    stmt = select(Installation).where(Installation.tenant_id == tenant_id, clause)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def of_tenant(
    session: AsyncSession, tenant_id: str, *, lock: bool = False
) -> Sequence[Installation]:
    stmt = (
        select(Installation).where(Installation.tenant_id == tenant_id).order_by(Installation.slug)
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalars().all()


async def page(
    session: AsyncSession, tenant_id: str, *, after: str | None, limit: int
) -> Sequence[Installation]:
    stmt = select(Installation).where(
        Installation.tenant_id == tenant_id, Installation.state != S.UNINSTALLED
    )
    if after:
        stmt = stmt.where(Installation.slug > after)
    stmt = stmt.order_by(Installation.slug).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def of_plan(session: AsyncSession, plan_id: uuid.UUID) -> Sequence[Installation]:
    """The plan's installations, locked in plan order (every executor locks in that order)."""
    stmt = (
        select(Installation)
        .where(Installation.plan_id == plan_id)
        .order_by(Installation.plan_position, Installation.id)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalars().all()


async def of_plugin(
    session: AsyncSession, plugin_id: uuid.UUID, states: Sequence[str]
) -> Sequence[Installation]:
    stmt = (
        select(Installation)
        .where(Installation.plugin_id == plugin_id, Installation.state.in_(list(states)))
        .order_by(Installation.tenant_id)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalars().all()


async def digest_in_use(session: AsyncSession, digest: str, excluding: Sequence[uuid.UUID]) -> bool:
    stmt = (
        select(Installation.id)
        .where(
            Installation.digest == digest,
            Installation.state.in_([s.value for s in LIVE_STATES]),
            Installation.id.not_in(list(excluding)),
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def history(
    session: AsyncSession, installation_id: uuid.UUID
) -> Sequence[InstallationHistory]:
    stmt = (
        select(InstallationHistory)
        .where(InstallationHistory.installation_id == installation_id)
        .order_by(InstallationHistory.sequence)
    )
    return (await session.execute(stmt)).scalars().all()


async def consents(session: AsyncSession, installation_id: uuid.UUID) -> Sequence[Consent]:
    stmt = select(Consent).where(Consent.installation_id == installation_id).order_by(Consent.id)
    return (await session.execute(stmt)).scalars().all()


def add(session: AsyncSession, row: object) -> None:
    session.add(row)
