"""Reads of the installations that are scheduled now."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.hooks.models import PluginProjection, Schedule, Subscription


async def scheduled_installations(
    session: AsyncSession,
) -> Sequence[tuple[Subscription, Schedule]]:
    """Every schedule of every enabled subscription (at its installed version) whose endpoint
    is not disabled and whose plugin is not banned; the grant is checked by the caller."""
    stmt = (
        select(Subscription, Schedule)
        .join(
            Schedule,
            and_(
                Schedule.plugin_id == Subscription.plugin_id,
                Schedule.version == Subscription.version,
            ),
        )
        .outerjoin(PluginProjection, PluginProjection.plugin_id == Subscription.plugin_id)
        .where(
            Subscription.state == "enabled",
            Subscription.endpoint_disabled.is_(False),
            func.coalesce(PluginProjection.banned, False).is_(False),
        )
        .order_by(Subscription.installation_id, Schedule.name)
    )
    return [(sub, schedule) for sub, schedule in (await session.execute(stmt)).all()]
