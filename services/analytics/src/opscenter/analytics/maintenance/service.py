"""Roll-ups and retention, safe on any number of replicas at once.

One transaction per round: a replica that cannot take the maintenance advisory lock skips the
round (another is doing it); the one that can locks the watermark row, which waits for ingest
batches in flight (they hold it shared) and holds new ones back until it commits. Complete days
(ended ``rollup_grace_s`` ago) move from hour rows into day rows and the watermark moves past
them in the same transaction, so a day is added once. Retention then removes hour rows older
than ``hourly_retention_days`` (never ones not rolled up yet), day rows older than
``daily_retention_days`` (their installs-minus-uninstalls kept in a carry row), and ledger
entries older than ``ledger_retention_days``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from opscenter.analytics.buckets import floor
from opscenter.analytics.maintenance import repository as repo
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Round:
    """What a maintenance round did (``ran`` False: another replica held the lock)."""

    ran: bool
    rolled_from: datetime | None = None
    rolled_through: datetime | None = None


async def maintain(
    uow: UnitOfWork, settings: AnalyticsSettings, now: datetime, *, consumer: str
) -> Round:
    session = uow.session
    if not await repo.try_lock(session):
        return Round(ran=False)
    watermark = await repo.rolled_through_for_update(session)
    target = floor(now - timedelta(seconds=settings.rollup_grace_s), "day")
    rolled_from = None
    if target > watermark:
        await repo.roll_up(session, watermark, target)
        await repo.set_rolled_through(session, target)
        rolled_from, watermark = watermark, target
    today = floor(now, "day")
    hour_cutoff = min(watermark, today - timedelta(days=settings.hourly_retention_days))
    await repo.delete_hours_before(session, hour_cutoff)
    await repo.delete_days_before(session, today - timedelta(days=settings.daily_retention_days))
    await repo.delete_ledger_before(
        session, consumer, now - timedelta(days=settings.ledger_retention_days)
    )
    await repo.set_retention_ran(session, now)
    await uow.commit()
    if rolled_from is not None:
        log.info(
            "rolled hours up into days",
            extra={"from": rolled_from.isoformat(), "through": watermark.isoformat()},
        )
    return Round(ran=True, rolled_from=rolled_from, rolled_through=watermark)
