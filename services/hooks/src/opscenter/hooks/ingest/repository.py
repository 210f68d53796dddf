"""Writes of accepted platform events and the deliveries they fan out to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.hooks.models import Delivery, PlatformEvent


async def add_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """Inserts the events not already held; returns the ``(source, event_id)`` pairs that
    were new (a duplicate CloudEvent is fanned out once)."""
    if not rows:
        return set()
    stmt = (
        insert(PlatformEvent)
        .values(list(rows))
        .on_conflict_do_nothing()
        .returning(PlatformEvent.source, PlatformEvent.event_id)
    )
    return {(r.source, r.event_id) for r in (await session.execute(stmt)).all()}


async def add_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 1000):
        chunk = list(rows[start : start + 1000])
        await session.execute(insert(Delivery).values(chunk).on_conflict_do_nothing())
