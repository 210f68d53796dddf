"""Reads and writes of installations, their history and consents (never commits).

Readers are named by what they return: ``..._snapshots`` are read-only driver snapshots,
``..._for_update`` are driver rows the caller holds a lock on and writes back with ``save``;
the rest are ORM rows, changed through the session."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import InstallationState
from opscenter.installer.installations.states import LIVE_STATES
from opscenter.installer.models import (
    Base,
    Consent,
    Installation,
    InstallationHistory,
)
from opscenter.servicekit.driver import (
    driver,
    rows_for_update,
    select_from,
    snapshots,
    write_rows,
)
from opscenter.servicekit.outbox import take_pending

# The first statement of most writes: plain SQL (ADR 0010), which also opens the transaction.
_LOCK_TENANT = (
    "INSERT INTO tenant_plans (tenant_id) VALUES ($1)"
    " ON CONFLICT (tenant_id) DO UPDATE SET updated_at = now()"
)
# Rows to change through the ORM: built once, with a bound parameter (building a statement
# costs the ORM about twice what executing it does).
_OF_TENANT = (
    select(Installation)
    .where(Installation.tenant_id == bindparam("tenant_id"))
    .order_by(Installation.slug)
)
_OF_TENANT_LOCKED = _OF_TENANT.with_for_update()
# The hot paths' reads (ADR 0010): plain SQL.
_INSTALLATIONS = select_from(Installation, "i")
_BY_IDS = _INSTALLATIONS + " WHERE i.id = ANY($1::uuid[])"
_OF_TENANTS = _INSTALLATIONS + " WHERE i.tenant_id = ANY($1::varchar[])"
_OF_TENANT_SQL = _INSTALLATIONS + " WHERE i.tenant_id = $1 ORDER BY i.slug"
_OF_PLANS = _INSTALLATIONS + (
    " WHERE i.plan_id = ANY($1::uuid[]) ORDER BY i.plan_id, i.plan_position, i.id FOR UPDATE"
)


async def lock_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Serialises plan changes of one tenant until the transaction ends.

    One statement: an upsert that touches the row takes its row lock whether it inserted it or
    not (a concurrent first insert of the same tenant waits on the unique index, then updates)."""
    await (await driver(session)).execute(_LOCK_TENANT, tenant_id)


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


async def snapshots_by_id(
    session: AsyncSession, installation_ids: Sequence[uuid.UUID]
) -> Sequence[Installation]:
    """Unlocked: a caller that acts on one locks it (``plans_for_update``) and reads its state
    again there."""
    if not installation_ids:
        return []
    return await snapshots(session, Installation, _BY_IDS, list(set(installation_ids)))


async def tenants_snapshots(
    session: AsyncSession, tenant_ids: Sequence[str]
) -> Sequence[Installation]:
    """Every installation of ``tenant_ids`` (one query for a whole executor batch)."""
    if not tenant_ids:
        return []
    return await snapshots(session, Installation, _OF_TENANTS, list(set(tenant_ids)))


async def tenant_snapshots(session: AsyncSession, tenant_id: str) -> Sequence[Installation]:
    """The tenant's installations, read-only (a dry run's plan)."""
    return await snapshots(session, Installation, _OF_TENANT_SQL, tenant_id)


async def tenant_for_update(session: AsyncSession, tenant_id: str) -> Sequence[Installation]:
    """The tenant's installations, for the install request: it holds the tenant's plan lock
    (``lock_tenant``), which guards them, and writes back the rows it installs again."""
    return await rows_for_update(session, Installation, _OF_TENANT_SQL, tenant_id)


async def plans_for_update(
    session: AsyncSession, plan_ids: Sequence[uuid.UUID]
) -> Sequence[Installation]:
    """The installations of several plans, locked in one statement, ordered by plan and then
    plan order (every executor locks in this order, so two never wait on each other in a
    cycle)."""
    if not plan_ids:
        return []
    return await rows_for_update(session, Installation, _OF_PLANS, list(set(plan_ids)))


async def of_tenant(
    session: AsyncSession, tenant_id: str, *, lock: bool = False
) -> Sequence[Installation]:
    stmt = _OF_TENANT_LOCKED if lock else _OF_TENANT
    return (await session.execute(stmt, {"tenant_id": tenant_id})).scalars().all()


async def page(
    session: AsyncSession, tenant_id: str, *, after: str | None, limit: int
) -> Sequence[Installation]:
    stmt = select(Installation).where(
        Installation.tenant_id == tenant_id, Installation.state != InstallationState.UNINSTALLED
    )
    if after:
        stmt = stmt.where(Installation.slug > after)
    stmt = stmt.order_by(Installation.slug).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def of_plugin_for_update(
    session: AsyncSession, plugin_id: uuid.UUID, states: Collection[str]
) -> Sequence[Installation]:
    """ORM rows, locked."""
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


async def save(
    session: AsyncSession, new: Sequence[Base], changed: Sequence[Installation] = ()
) -> None:
    """Writes new rows of any tables (installations and the rows that reference them),
    ``changed`` rows for update back and the events emitted so far, in one plain-SQL statement
    (ADR 0010). The caller holds the lock that keeps others from the changed rows (the tenant's
    plan lock, or ``plans_for_update``' row locks), so the events draw their outbox ids in
    order."""
    await write_rows(session, new, changed, take_pending(session))


async def live_page_for_update(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> Sequence[Installation]:
    """Up to ``limit`` live installations with an id above ``after``, in id order, locked (ORM
    rows): a concurrent action on one waits, so what is read stays its latest state."""
    stmt = select(Installation).where(Installation.state.in_([s.value for s in LIVE_STATES]))
    if after is not None:
        stmt = stmt.where(Installation.id > after)
    stmt = stmt.order_by(Installation.id).limit(limit).with_for_update()
    return (await session.execute(stmt)).scalars().all()
