"""Reads and writes of deliveries, their attempts and the endpoints' breakers.

The claim is the dispatcher's one contended statement. A delivery is claimable when it is
``pending``, due, unleased (or its lease expired) and the head of its lane (no pending delivery
of the same lane has a lower ``seq``). Candidates are ranked within their tenant and taken
rank by rank, at most ``tenant_share`` per tenant, so every tenant with due work gets a share
of each claim however deep one tenant's queue is. ``FOR UPDATE SKIP LOCKED`` with the lease
condition repeated in the locking query lets several dispatchers claim at once without
taking the same row twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from opscenter.hooks.deliveries.policy import Breaker

from opscenter.hooks.models import (
    Delivery,
    DeliveryAttempt,
    EndpointBreaker,
    PlatformEvent,
    Subscription,
)

_CLAIM = text(
    """
    WITH heads AS (
        SELECT DISTINCT ON (d.lane) d.id, d.seq, d.tenant_id, d.next_attempt_at, d.lease_until
        FROM deliveries d
        WHERE d.status = 'pending'
        ORDER BY d.lane, d.seq
    ),
    due AS (
        SELECT h.id, h.seq,
               row_number() OVER (PARTITION BY h.tenant_id ORDER BY h.seq) AS rank
        FROM heads h
        WHERE h.next_attempt_at <= :now
          AND (h.lease_until IS NULL OR h.lease_until < :now)
    ),
    picked AS (
        SELECT id FROM due WHERE rank <= :share ORDER BY rank, seq LIMIT :limit
    ),
    locked AS (
        SELECT d.id FROM deliveries d
        WHERE d.id IN (SELECT id FROM picked)
          AND d.status = 'pending'
          AND (d.lease_until IS NULL OR d.lease_until < :now)
        FOR UPDATE SKIP LOCKED
    )
    UPDATE deliveries SET lease_until = :lease_until
    WHERE id IN (SELECT id FROM locked)
    RETURNING id
    """
)


async def claim_due(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int, tenant_share: int
) -> list[uuid.UUID]:
    rows = await session.execute(
        _CLAIM,
        {"now": now, "lease_until": lease_until, "limit": limit, "share": tenant_share},
    )
    return [r[0] for r in rows.all()]


async def deliveries_with_context(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[tuple[Delivery, PlatformEvent, Subscription | None]]:
    stmt = (
        select(Delivery, PlatformEvent, Subscription)
        .join(
            PlatformEvent,
            and_(
                PlatformEvent.source == Delivery.event_source,
                PlatformEvent.event_id == Delivery.event_id,
            ),
        )
        .outerjoin(Subscription, Subscription.installation_id == Delivery.installation_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.seq)
    )
    return [(d, e, s) for d, e, s in (await session.execute(stmt)).all()]


async def breakers(session: AsyncSession, urls: Sequence[str]) -> dict[str, EndpointBreaker]:
    if not urls:
        return {}
    stmt = select(EndpointBreaker).where(EndpointBreaker.url.in_(urls)).with_for_update()
    return {b.url: b for b in (await session.execute(stmt)).scalars().all()}


async def save_breaker(session: AsyncSession, breaker: Breaker) -> None:
    values = {
        "state": breaker.state,
        "consecutive_failures": breaker.consecutive_failures,
        "probe_at": breaker.probe_at,
        "opened_at": breaker.opened_at,
    }
    stmt = insert(EndpointBreaker).values(url=breaker.url, **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["url"], set_={**values, "updated_at": func.now()}
        )
    )


async def defer(
    session: AsyncSession, ids: Sequence[uuid.UUID], until: datetime, reason: str | None = None
) -> None:
    """Releases leased deliveries unattempted, due again at ``until``."""
    if not ids:
        return
    values: dict[str, Any] = {"next_attempt_at": until, "lease_until": None}
    if reason is not None:
        values["last_error"] = reason
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == "pending")
        .values(**values, updated_at=func.now())
    )


@dataclass(frozen=True)
class Outcome:
    """What one attempt leaves on its delivery."""

    delivery_id: uuid.UUID
    attempt: int
    status: str
    next_attempt_at: datetime | None
    status_code: int | None
    error: str | None


_LOCK_PENDING = text(
    """
    SELECT id FROM deliveries
    WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'pending'
    ORDER BY id
    FOR UPDATE
    """
)

_FINISH = text(
    """
    UPDATE deliveries d
    SET status = u.status, attempts = u.attempt, next_attempt_at = u.next_attempt_at,
        lease_until = NULL, last_status_code = u.status_code, last_error = u.error,
        updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:attempts AS int[]),
                CAST(:next_at AS timestamptz[]), CAST(:codes AS int[]), CAST(:errors AS text[]))
         AS u(id, status, attempt, next_attempt_at, status_code, error)
    WHERE d.id = u.id AND d.id = ANY(CAST(:pending AS uuid[]))
    """
)


async def finish_attempts(session: AsyncSession, outcomes: Sequence[Outcome]) -> set[uuid.UUID]:
    """Writes each attempt's outcome onto its delivery, in two statements whatever the batch,
    except where the delivery left ``pending`` meanwhile (cancelled while in flight): those
    are left as they are and are not in the answer. Rows are locked in id order, so two
    dispatchers recording overlapping batches (a lease that expired) never deadlock."""
    if not outcomes:
        return set()
    ids = [o.delivery_id for o in outcomes]
    locked = await session.execute(_LOCK_PENDING, {"ids": ids})
    pending = [row[0] for row in locked]
    if pending:
        await session.execute(
            _FINISH,
            {
                "ids": ids,
                "statuses": [o.status for o in outcomes],
                "attempts": [o.attempt for o in outcomes],
                "next_at": [o.next_attempt_at for o in outcomes],
                "codes": [o.status_code for o in outcomes],
                "errors": [o.error for o in outcomes],
                "pending": pending,
            },
        )
    return set(pending)


async def add_attempts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """One row per attempt, in one statement."""
    if rows:
        await session.execute(insert(DeliveryAttempt), list(rows))


def cancelled(reason: str) -> dict[str, Any]:
    """The column values of a delivery that is no longer owed."""
    return {
        "status": "cancelled",
        "next_attempt_at": None,
        "lease_until": None,
        "last_error": reason,
        "updated_at": func.now(),
    }


async def cancel(session: AsyncSession, ids: Sequence[uuid.UUID], reason: str) -> None:
    if not ids:
        return
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == "pending")
        .values(**cancelled(reason))
    )


async def cancel_webhooks_of(
    session: AsyncSession, installation_id: uuid.UUID, reason: str
) -> None:
    await session.execute(
        update(Delivery)
        .where(
            Delivery.installation_id == installation_id,
            Delivery.status == "pending",
            Delivery.target == "webhook",
        )
        .values(**cancelled(reason))
    )


async def page(
    session: AsyncSession,
    installation_ids: Sequence[uuid.UUID],
    *,
    status: str | None,
    event_type: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Delivery]:
    """Newest first, keyset-paged by ``(created_at, id)``."""
    stmt = select(Delivery).where(Delivery.installation_id.in_(installation_ids))
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    if event_type is not None:
        stmt = stmt.where(Delivery.event_type == event_type)
    if since is not None:
        stmt = stmt.where(Delivery.created_at >= since)
    if until is not None:
        stmt = stmt.where(Delivery.created_at < until)
    if after is not None:
        at, last_id = after
        stmt = stmt.where(
            or_(Delivery.created_at < at, and_(Delivery.created_at == at, Delivery.id < last_id))
        )
    stmt = stmt.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars().all())


async def attempts_of(
    session: AsyncSession, delivery_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[DeliveryAttempt]]:
    if not delivery_ids:
        return {}
    stmt = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.id)
    )
    found: dict[uuid.UUID, list[DeliveryAttempt]] = {}
    for a in (await session.execute(stmt)).scalars().all():
        found.setdefault(a.delivery_id, []).append(a)
    return found


async def delivery_for_update(
    session: AsyncSession, delivery_id: uuid.UUID, installation_ids: Sequence[uuid.UUID]
) -> Delivery | None:
    stmt = (
        select(Delivery)
        .where(Delivery.id == delivery_id, Delivery.installation_id.in_(installation_ids))
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def requeue(
    session: AsyncSession,
    installation_id: uuid.UUID,
    *,
    now: datetime,
    ids: Sequence[uuid.UUID] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
) -> int:
    """Puts finished deliveries back to ``pending`` with a fresh attempt count (their attempt
    rows stay); pending ones are left alone. Returns how many were requeued."""
    stmt = update(Delivery).where(
        Delivery.installation_id == installation_id, Delivery.status != "pending"
    )
    if ids is not None:
        stmt = stmt.where(Delivery.id.in_(ids))
    if since is not None:
        stmt = stmt.where(Delivery.created_at >= since)
    if until is not None:
        stmt = stmt.where(Delivery.created_at < until)
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    result = await session.execute(
        stmt.values(
            status="pending",
            attempts=0,
            next_attempt_at=now,
            lease_until=None,
            updated_at=func.now(),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def pending_by_tenant(session: AsyncSession) -> dict[str, int]:
    stmt = (
        select(Delivery.tenant_id, func.count())
        .where(Delivery.status == "pending")
        .group_by(Delivery.tenant_id)
    )
    return {t: int(n) for t, n in (await session.execute(stmt)).all()}


async def breakers_by_state(session: AsyncSession) -> dict[str, int]:
    stmt = select(EndpointBreaker.state, func.count()).group_by(EndpointBreaker.state)
    return {s: int(n) for s, n in (await session.execute(stmt)).all()}
