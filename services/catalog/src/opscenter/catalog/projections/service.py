"""Projections of other services' events that let listings sort without asking anyone.

Ratings: the reviews service sends the whole summary each time; we keep it and our Bayesian
rating (``ranking.bayesian_rating``). Installs: ``install_count`` is the number of installations
currently installed (any state between installed and uninstalled). Each installation's newest
applied ``sequence`` is kept, so a late or repeated transition cannot count twice; the inbox
already makes each event apply once.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.catalog.projections import repository as repo
from opscenter.catalog.ranking import bayesian_rating
from opscenter.contracts import InstallationInstalledV1, InstallationUninstalledV1
from opscenter.contracts.reviews import RatingSummaryChangedV1

log = logging.getLogger(__name__)


async def apply_rating_summary(session: AsyncSession, summary: RatingSummaryChangedV1) -> None:
    found = await repo.set_rating(
        session,
        summary.plugin_id,
        average=summary.average,
        count=summary.count,
        bayesian=bayesian_rating(summary.average, summary.count),
        histogram={str(k): v for k, v in summary.histogram.items()},
    )
    if not found:
        log.info("rating summary for an unknown plugin ignored", extra={"slug": summary.slug})


async def apply_installation(
    session: AsyncSession, event: InstallationInstalledV1 | InstallationUninstalledV1
) -> None:
    active = isinstance(event, InstallationInstalledV1)
    current = await repo.installation_for_update(session, event.installation_id)
    if current is not None and current.sequence >= event.sequence:
        return  # older than what we hold
    was_active = current is not None and current.active
    await repo.upsert_installation(
        session,
        installation_id=event.installation_id,
        plugin_id=event.plugin_id,
        tenant_id=event.tenant_id,
        active=active,
        sequence=event.sequence,
    )
    if active != was_active:
        await repo.add_installs(session, event.plugin_id, 1 if active else -1)
