"""Consumers that keep the catalog projection (``catalog-projection``, ``publisher-keys``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    CloudEvent,
    PluginBannedV1,
    PluginDeprecatedV1,
    PluginVersionPublishedV1,
    PluginVersionYankedV1,
    PublisherKeyRegisteredV1,
    PublisherKeyRevokedV1,
    UnknownEventType,
    parse_payload,
)
from opscenter.installer.catalog import service
from opscenter.installer.events import Emit
from opscenter.installer.installations import service as installations


async def on_catalog_event(session: AsyncSession, event: CloudEvent, emit: Emit) -> None:
    """Applies one ``catalog.plugin`` event; types the installer does not need are ignored."""
    try:
        payload = parse_payload(event)
    except UnknownEventType:
        return
    if isinstance(payload, PluginVersionPublishedV1):
        await service.version_published(session, payload)
    elif isinstance(payload, PluginVersionYankedV1):
        await service.version_yanked(session, payload)
    elif isinstance(payload, PluginDeprecatedV1):
        await service.plugin_deprecated(session, payload)
    elif isinstance(payload, PluginBannedV1):
        await service.plugin_banned(session, payload)
        await installations.ban(session, emit, payload.plugin_id)


async def on_publisher_event(session: AsyncSession, event: CloudEvent) -> None:
    try:
        payload = parse_payload(event)
    except UnknownEventType:
        return
    if isinstance(payload, PublisherKeyRegisteredV1):
        await service.key_registered(session, payload)
    elif isinstance(payload, PublisherKeyRevokedV1):
        await service.key_revoked(session, payload)
