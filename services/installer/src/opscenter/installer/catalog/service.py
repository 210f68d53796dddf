"""The catalog projection: what the installer may install, learned from catalog events only.

Invariants: applying an event twice leaves the same rows (upserts), so replays are harmless; a
yank marks the version and nothing else (installations keep running); a ban marks the plugin and
disables every installation of it in every tenant (see ``installations.service.actions.ban``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    PluginBannedV1,
    PluginDeprecatedV1,
    PluginVersionPublishedV1,
    PluginVersionYankedV1,
    PublisherKeyRegisteredV1,
    PublisherKeyRevokedV1,
)
from opscenter.installer.catalog import repository as repo
from opscenter.installer.models import CatalogPlugin, CatalogVersion


async def version_published(session: AsyncSession, event: PluginVersionPublishedV1) -> None:
    manifest = event.manifest
    await repo.upsert_plugin(session, event.plugin_id, event.slug, event.publisher_id)
    await repo.upsert_version(
        session,
        {
            "plugin_id": event.plugin_id,
            "version": event.version,
            "slug": event.slug,
            "publisher_id": event.publisher_id,
            "manifest": manifest.model_dump(mode="json"),
            "dependencies": dict(manifest.dependencies.plugins),
            "permissions": [str(p) for p in manifest.permissions],
            "config_schema": manifest.config_schema,
            "pricing": manifest.pricing.model_dump(mode="json"),
            "digest": event.digest,
            "size": event.size,
            "signature": event.signature,
            "signing_key_id": event.signing_key_id,
            "published_at": event.published_at,
        },
    )


async def version_yanked(session: AsyncSession, event: PluginVersionYankedV1) -> None:
    version = await session.get(
        CatalogVersion, (event.plugin_id, event.version), with_for_update=True
    )
    if version is None:
        return  # yanked before we saw it published: the publish event will not come later
    version.yanked = True
    version.yank_reason = event.reason


async def plugin_deprecated(session: AsyncSession, event: PluginDeprecatedV1) -> None:
    plugin = await session.get(CatalogPlugin, event.plugin_id, with_for_update=True)
    if plugin is None:
        return
    plugin.deprecated = True
    plugin.deprecation_reason = event.reason
    plugin.replacement_slug = event.replacement_slug


async def plugin_banned(session: AsyncSession, event: PluginBannedV1) -> CatalogPlugin:
    plugin = await session.get(CatalogPlugin, event.plugin_id, with_for_update=True)
    if plugin is None:
        plugin = CatalogPlugin(plugin_id=event.plugin_id, slug=event.slug, publisher_id="unknown")
        session.add(plugin)
    plugin.banned = True
    plugin.ban_reason = event.reason
    await session.flush()
    return plugin


async def key_registered(session: AsyncSession, event: PublisherKeyRegisteredV1) -> None:
    await repo.upsert_key(
        session,
        {
            "publisher_id": event.publisher_id,
            "key_id": str(event.key_id),
            "public_key": event.public_key,
            "algorithm": event.algorithm,
            "registered_at": event.registered_at,
            "revoked_at": None,
        },
    )


async def key_revoked(session: AsyncSession, event: PublisherKeyRevokedV1) -> None:
    key = await repo.get_key(session, event.publisher_id, str(event.key_id))
    if key is None:
        # Revoked before its registration reached us (two topics, no order between them): keep a
        # tombstone so the late registration cannot make the key usable.
        await repo.upsert_key(
            session,
            {
                "publisher_id": event.publisher_id,
                "key_id": str(event.key_id),
                "public_key": "",
                "algorithm": "ed25519",
                "registered_at": event.revoked_at,
                "revoked_at": event.revoked_at,
            },
        )
        return
    key.revoked_at = event.revoked_at
