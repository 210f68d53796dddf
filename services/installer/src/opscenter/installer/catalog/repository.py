"""Reads and writes of the catalog projection."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, String, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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


def _closure_statement() -> Select[tuple[CatalogVersion, CatalogPlugin]]:
    seed = select(func.unnest(bindparam("slugs", type_=ARRAY(String))).label("slug"))
    reach = seed.cte("reach", recursive=True)
    dep = aliased(CatalogVersion)
    reach = reach.union(
        select(func.jsonb_object_keys(dep.dependencies).label("slug")).join(
            reach, dep.slug == reach.c.slug
        )
    )
    return (
        select(CatalogVersion, CatalogPlugin)
        .join(CatalogPlugin, CatalogPlugin.plugin_id == CatalogVersion.plugin_id)
        .where(CatalogVersion.slug.in_(select(reach.c.slug)))
    )


#: Built once: constructing the recursive CTE costs more CPU than running it.
_CLOSURE = _closure_statement()


async def closure(
    session: AsyncSession, slugs: Iterable[str]
) -> Sequence[tuple[CatalogVersion, CatalogPlugin]]:
    """Every published version (with its plugin) of the plugins reachable from ``slugs`` through
    any version's dependencies, in ONE query (a recursive CTE over the dependency keys; UNION
    stops at cycles)."""
    wanted = sorted(set(slugs))
    if not wanted:
        return []
    result = await session.execute(_CLOSURE, {"slugs": wanted})
    return [(v, p) for v, p in result.tuples()]


async def versions_by_key(
    session: AsyncSession, keys: Iterable[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], CatalogVersion]:
    """Versions by ``(plugin_id, version)``, one query for many."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    stmt = select(CatalogVersion).where(
        tuple_(CatalogVersion.plugin_id, CatalogVersion.version).in_(wanted)
    )
    return {(v.plugin_id, v.version): v for v in (await session.execute(stmt)).scalars()}


async def plugins_by_id(
    session: AsyncSession, plugin_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, CatalogPlugin]:
    wanted = list(set(plugin_ids))
    if not wanted:
        return {}
    stmt = select(CatalogPlugin).where(CatalogPlugin.plugin_id.in_(wanted))
    return {p.plugin_id: p for p in (await session.execute(stmt)).scalars()}


async def keys_by_id(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], PublisherKey]:
    """Publisher keys by ``(publisher_id, key_id)``, one query for many."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    stmt = select(PublisherKey).where(
        tuple_(PublisherKey.publisher_id, PublisherKey.key_id).in_(wanted)
    )
    return {(k.publisher_id, k.key_id): k for k in (await session.execute(stmt)).scalars()}


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
