"""The metrics consumer's batch handler: runs inside the consumer's inbox-guarded transaction
(never commits)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.analytics.ingest import service
from opscenter.contracts import CloudEvent

HANDLED_TYPES = service.HANDLED_TYPES


async def on_events(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
    """Every fresh event of a batch, at once: one statement per table, not one per event."""
    await service.apply_events(session, events)
