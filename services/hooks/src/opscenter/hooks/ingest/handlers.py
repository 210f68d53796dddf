"""The ``ops.platform`` consumer's handler (inside the consumer's inbox-guarded transaction)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import CloudEvent
from opscenter.hooks.ingest import service

FANNED_OUT = Counter("hooks_deliveries_created_total", "Deliveries created from platform events")


async def on_platform_events(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
    FANNED_OUT.inc(await service.fan_out(session, events))
