"""Reads and writes of publishers, keys, plugins and versions. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import INT8MULTIRANGE, insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.catalog.models import (
    Artifact,
    Plugin,
    PluginDependency,
    PluginHook,
    PluginPermission,
    PluginVersion,
    Publisher,
    PublisherKey,
)
from opscenter.contracts.fields import is_uuid_shaped


def plugin_ref_clause(ref: str) -> Any:
    """``ref`` is a UUID or a slug; slugs are never UUID-shaped, so the two cannot collide."""
    if is_uuid_shaped(ref):
        return Plugin.id == uuid.UUID(ref)
    return Plugin.slug == ref


async def ensure_publisher(session: AsyncSession, publisher_id: str) -> None:
    await session.execute(
        insert(Publisher).values(id=publisher_id).on_conflict_do_nothing(index_elements=["id"])
    )


async def get_plugin(session: AsyncSession, ref: str, *, for_update: bool = False) -> Plugin | None:
    stmt = select(Plugin).where(plugin_ref_clause(ref))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    return (await session.execute(select(Plugin.id).where(Plugin.slug == slug))).first() is not None


async def add_plugin(session: AsyncSession, plugin: Plugin) -> None:
    session.add(plugin)
    await session.flush()


async def plugins_of(
    session: AsyncSession, publisher_id: str, *, after: str | None, limit: int
) -> Sequence[Plugin]:
    stmt = select(Plugin).where(Plugin.publisher_id == publisher_id)
    if after is not None:
        stmt = stmt.where(Plugin.slug > after)
    stmt = stmt.order_by(Plugin.slug).limit(limit)
    return (await session.execute(stmt)).scalars().all()


# -- keys ---------------------------------------------------------------------------------------


async def add_key(session: AsyncSession, key: PublisherKey) -> bool:
    """False when this key (its fingerprint) is already registered, by any publisher."""
    result = await session.execute(
        insert(PublisherKey)
        .values(
            id=key.id,
            publisher_id=key.publisher_id,
            algorithm=key.algorithm,
            public_key=key.public_key,
            fingerprint=key.fingerprint,
        )
        .on_conflict_do_nothing(constraint="uq_publisher_keys_fingerprint")
        .returning(PublisherKey.created_at)
    )
    row = result.first()
    if row is None:
        return False
    key.created_at = row.created_at
    return True


async def key_owner(session: AsyncSession, fingerprint: str) -> tuple[str, bool] | None:
    """The publisher that registered the key with this fingerprint, and whether it revoked it
    since; None when no publisher did."""
    result = await session.execute(
        select(PublisherKey.publisher_id, PublisherKey.revoked_at).where(
            PublisherKey.fingerprint == fingerprint
        )
    )
    row = result.one_or_none()
    return None if row is None else (row.publisher_id, row.revoked_at is not None)


async def keys_of(
    session: AsyncSession, publisher_id: str, *, active_only: bool = False
) -> Sequence[PublisherKey]:
    stmt = select(PublisherKey).where(PublisherKey.publisher_id == publisher_id)
    if active_only:
        stmt = stmt.where(PublisherKey.revoked_at.is_(None))
    return (await session.execute(stmt.order_by(PublisherKey.created_at))).scalars().all()


async def get_key(
    session: AsyncSession, publisher_id: str, key_id: uuid.UUID, *, for_update: bool = False
) -> PublisherKey | None:
    stmt = select(PublisherKey).where(
        PublisherKey.id == key_id, PublisherKey.publisher_id == publisher_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


# -- versions -----------------------------------------------------------------------------------


async def version_exists(session: AsyncSession, plugin_id: uuid.UUID, version: str) -> bool:
    stmt = select(PluginVersion.id).where(
        PluginVersion.plugin_id == plugin_id, PluginVersion.version == version
    )
    return (await session.execute(stmt)).first() is not None


async def version_strings(
    session: AsyncSession, plugin_id: uuid.UUID, *, installable_only: bool = True
) -> list[str]:
    stmt = select(PluginVersion.version).where(PluginVersion.plugin_id == plugin_id)
    if installable_only:
        stmt = stmt.where(PluginVersion.yanked_at.is_(None))
    return list((await session.execute(stmt)).scalars().all())


async def known_slugs(session: AsyncSession, slugs: Sequence[str]) -> set[str]:
    """The slugs among ``slugs`` that name a plugin that is not banned."""
    if not slugs:
        return set()
    stmt = select(Plugin.slug).where(Plugin.slug.in_(list(slugs)), Plugin.banned_at.is_(None))
    return set((await session.execute(stmt)).scalars().all())


_REACHABLE_EDGES = text(
    """
    WITH RECURSIVE edges AS (
        SELECT DISTINCT p.slug AS src, d.depends_on_slug AS dst
        FROM plugin_dependencies d
        JOIN plugin_versions v ON v.id = d.version_id
        JOIN plugins p ON p.id = v.plugin_id
    ), walk(src, dst) AS (
        SELECT src, dst FROM edges WHERE src = ANY(:start)
        UNION
        SELECT e.src, e.dst FROM edges e JOIN walk w ON e.src = w.dst
    )
    SELECT src, dst FROM walk
    """
)


async def dependency_edges_from(
    session: AsyncSession, start: Sequence[str]
) -> list[tuple[str, str]]:
    """Every (plugin, dependency) edge of published versions reachable from ``start`` slugs."""
    if not start:
        return []
    rows = await session.execute(_REACHABLE_EDGES, {"start": list(start)})
    return [(r.src, r.dst) for r in rows]


async def add_artifact(session: AsyncSession, digest: str, size: int, location: str) -> None:
    await session.execute(
        insert(Artifact)
        .values(digest=digest, size=size, location=location)
        .on_conflict_do_nothing(index_elements=["digest"])
    )


async def add_version(
    session: AsyncSession,
    *,
    version_id: uuid.UUID,
    plugin_id: uuid.UUID,
    version: str,
    manifest: dict[str, Any],
    digest: str,
    size: int,
    signature: str | None,
    signing_key_id: uuid.UUID | None,
    compatibility: str | None,
    compat_literal: str,
    changelog: str | None,
    dependencies: dict[str, str],
    permissions: Sequence[str],
    hooks: Sequence[tuple[str, str | None, str | None]],
) -> datetime:
    published_at: datetime = (
        await session.execute(
            insert(PluginVersion)
            .values(
                id=version_id,
                plugin_id=plugin_id,
                version=version,
                manifest=manifest,
                digest=digest,
                size=size,
                signature=signature,
                signing_key_id=signing_key_id,
                compatibility=compatibility,
                compat=cast(literal(compat_literal, Text), INT8MULTIRANGE),
                changelog=changelog,
            )
            .returning(PluginVersion.published_at)
        )
    ).scalar_one()
    if dependencies:
        await session.execute(
            insert(PluginDependency),
            [
                {"version_id": version_id, "depends_on_slug": slug, "version_range": rng}
                for slug, rng in dependencies.items()
            ],
        )
    if permissions:
        await session.execute(
            insert(PluginPermission),
            [{"version_id": version_id, "permission": p} for p in permissions],
        )
    if hooks:
        await session.execute(
            insert(PluginHook),
            [{"version_id": version_id, "name": n, "handler": h, "url": u} for n, h, u in hooks],
        )
    return published_at


async def refresh_compat(session: AsyncSession, plugin_id: uuid.UUID) -> None:
    """``plugins.compat`` = union of the installable versions' ranges (NULL when none)."""
    agg = (
        select(func.range_agg(PluginVersion.compat))
        .where(PluginVersion.plugin_id == plugin_id, PluginVersion.yanked_at.is_(None))
        .scalar_subquery()
    )
    await session.execute(
        update(Plugin).where(Plugin.id == plugin_id).values(compat=agg, updated_at=func.now())
    )
