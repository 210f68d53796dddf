"""Consumer handlers of the subscription projection (inside the consumer's inbox-guarded
transaction; they never commit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    CloudEvent,
    PluginBannedV1,
    PluginVersionPublishedV1,
    PublisherKeyRegisteredV1,
    PublisherKeyRevokedV1,
    parse_payload,
)
from opscenter.hooks.secrets import SecretCipher
from opscenter.hooks.subscriptions import service

PLUGIN_TYPES = frozenset({PluginVersionPublishedV1.event_type, PluginBannedV1.event_type})
KEY_TYPES = frozenset({PublisherKeyRegisteredV1.event_type, PublisherKeyRevokedV1.event_type})

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


def installation_handler(cipher: SecretCipher) -> Handler:
    """``installer.installation``: every transition moves the projection."""

    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        await service.apply_installation_event(session, parse_payload(event), cipher)

    return handle


async def on_plugin_event(session: AsyncSession, event: CloudEvent) -> None:
    """``catalog.plugin``: versions (publisher, package digest and signature) and bans."""
    if event.type in PLUGIN_TYPES:
        await service.apply_plugin_event(session, parse_payload(event))


async def on_publisher_event(session: AsyncSession, event: CloudEvent) -> None:
    """``catalog.publisher``: the signing keys handler packages are checked with."""
    if event.type in KEY_TYPES:
        await service.apply_publisher_event(session, parse_payload(event))
