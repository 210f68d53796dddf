"""Consumer handlers: run inside the consumer's inbox-guarded transaction (never commit)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.catalog.projections import service
from opscenter.contracts import (
    CloudEvent,
    InstallationInstalledV1,
    InstallationUninstalledV1,
    parse_payload,
)
from opscenter.contracts.reviews import RatingSummaryChangedV1

RATING_TYPES = frozenset({RatingSummaryChangedV1.event_type})
INSTALL_TYPES = frozenset(
    {InstallationInstalledV1.event_type, InstallationUninstalledV1.event_type}
)


async def on_review_event(session: AsyncSession, event: CloudEvent) -> None:
    """``reviews.review``: only rating summaries matter here."""
    if event.type not in RATING_TYPES:
        return
    payload = parse_payload(event)
    assert isinstance(payload, RatingSummaryChangedV1)
    await service.apply_rating_summary(session, payload)


async def on_installation_event(session: AsyncSession, event: CloudEvent) -> None:
    """``installer.installation``: installed and uninstalled move the install count."""
    if event.type not in INSTALL_TYPES:
        return
    payload = parse_payload(event)
    assert isinstance(payload, InstallationInstalledV1 | InstallationUninstalledV1)
    await service.apply_installation(session, payload)
