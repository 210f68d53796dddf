"""Consumer handlers: run inside the consumer's inbox-guarded transaction (never commit)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    CloudEvent,
    PluginBannedV1,
    PluginRegisteredV1,
    PluginUpdatedV1,
    parse_payload,
)
from opscenter.reviews.projections import service

PLUGIN_TYPES = frozenset(
    {PluginRegisteredV1.event_type, PluginUpdatedV1.event_type, PluginBannedV1.event_type}
)
INSTALLATION_TYPES = frozenset(cls.event_type for cls in service.INSTALLATION_EVENTS)


async def on_plugin_event(session: AsyncSession, event: CloudEvent) -> None:
    """``catalog.plugin``: listings (slug, publisher) and bans."""
    if event.type not in PLUGIN_TYPES:
        return
    payload = parse_payload(event)
    if isinstance(payload, PluginBannedV1):
        await service.apply_ban(session, payload, event.time)
    else:
        assert isinstance(payload, PluginRegisteredV1 | PluginUpdatedV1)
        await service.apply_listing(session, payload)


async def on_installation_event(session: AsyncSession, event: CloudEvent) -> None:
    """``installer.installation``: the transitions that say whether a tenant has the plugin."""
    if event.type not in INSTALLATION_TYPES:
        return
    payload = parse_payload(event)
    assert isinstance(payload, service.INSTALLATION_EVENTS)
    await service.apply_installation(session, payload)
