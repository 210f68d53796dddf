"""Reads and writes of the catalog projection."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.installer.models import CatalogPlugin, CatalogVersion, PublisherKey


async def upsert_plugin(
    session: AsyncSession, plugin_id: uuid.UUID, slug: str, publisher_id: str
) -> None:
    stmt = insert(CatalogPlugin).values(plugin_id=plugin_id, slug=slug, publisher_id=publisher_id)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CatalogPlugin.plugin_id],
            set_={"slug": slug, "publisher_id": publisher_id},
        )
    )


async def upsert_version(session: AsyncSession, values: dict[str, object]) -> None:
    stmt = insert(CatalogVersion).values(**values)
    keep = {k: v for k, v in values.items() if k not in ("plugin_id", "version", "yanked")}
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CatalogVersion.plugin_id, CatalogVersion.version], set_=keep
        )
    )


async def get_plugin(
    session: AsyncSession, ref: str | uuid.UUID, *, lock: bool = False
) -> CatalogPlugin | None:
    """By UUID or slug (a slug never has a UUID's shape)."""
    try:
        plugin_id = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
        clause = CatalogPlugin.plugin_id == plugin_id
    except ValueError:
        clause = CatalogPlugin.slug == ref
    stmt = select(CatalogPlugin).where(clause)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_version(
    session: AsyncSession, plugin_id: uuid.UUID, version: str
) -> CatalogVersion | None:
    return await session.get(CatalogVersion, (plugin_id, version))


async def versions_of(session: AsyncSession, slugs: Iterable[str]) -> Sequence[CatalogVersion]:
    wanted = list(set(slugs))
    if not wanted:
        return []
    rows = await session.execute(select(CatalogVersion).where(CatalogVersion.slug.in_(wanted)))
    return rows.scalars().all()


async def plugins_by_slug(session: AsyncSession, slugs: Iterable[str]) -> dict[str, CatalogPlugin]:
    wanted = list(set(slugs))
    if not wanted:
        return {}
    rows = await session.execute(select(CatalogPlugin).where(CatalogPlugin.slug.in_(wanted)))
    return {p.slug: p for p in rows.scalars()}


async def get_key(session: AsyncSession, publisher_id: str, key_id: str) -> PublisherKey | None:
    return await session.get(PublisherKey, (publisher_id, key_id))


async def upsert_key(session: AsyncSession, values: dict[str, object]) -> None:
    stmt = insert(PublisherKey).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[PublisherKey.publisher_id, PublisherKey.key_id],
            set_={
                k: v for k, v in values.items() if k not in ("publisher_id", "key_id", "revoked_at")
            },
        )
    )
