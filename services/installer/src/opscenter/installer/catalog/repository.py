"""Reads and writes of the catalog projection."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, String, Uuid, bindparam, func, select, tuple_
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


# Statements of every install request and executor batch, built once (see
# installations.repository): lists travel as array parameters.
_PLUGIN_BY_ID = select(CatalogPlugin).where(CatalogPlugin.plugin_id == bindparam("ref"))
_PLUGIN_BY_SLUG = select(CatalogPlugin).where(CatalogPlugin.slug == bindparam("ref"))
_PLUGINS_BY_ID = select(CatalogPlugin).where(
    CatalogPlugin.plugin_id == func.any(bindparam("plugin_ids", type_=ARRAY(Uuid)))
)
_VERSIONS_BY_KEY = select(CatalogVersion).where(
    tuple_(CatalogVersion.plugin_id, CatalogVersion.version).in_(
        select(
            func.unnest(bindparam("plugin_ids", type_=ARRAY(Uuid))),
            func.unnest(bindparam("versions", type_=ARRAY(String))),
        )
    )
)
_KEYS_BY_ID = select(PublisherKey).where(
    tuple_(PublisherKey.publisher_id, PublisherKey.key_id).in_(
        select(
            func.unnest(bindparam("publisher_ids", type_=ARRAY(String))),
            func.unnest(bindparam("key_ids", type_=ARRAY(String))),
        )
    )
)


async def get_plugin(
    session: AsyncSession, ref: str | uuid.UUID, *, lock: bool = False
) -> CatalogPlugin | None:
    """By UUID or slug (a slug never has a UUID's shape)."""
    value: str | uuid.UUID
    try:
        value = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
        stmt = _PLUGIN_BY_ID
    except ValueError:
        value, stmt = str(ref), _PLUGIN_BY_SLUG
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt, {"ref": value})).scalar_one_or_none()


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
    params = {"plugin_ids": [p for p, _ in wanted], "versions": [v for _, v in wanted]}
    rows = (await session.execute(_VERSIONS_BY_KEY, params)).scalars()
    return {(v.plugin_id, v.version): v for v in rows}


async def plugins_by_id(
    session: AsyncSession, plugin_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, CatalogPlugin]:
    wanted = list(set(plugin_ids))
    if not wanted:
        return {}
    rows = (await session.execute(_PLUGINS_BY_ID, {"plugin_ids": wanted})).scalars()
    return {p.plugin_id: p for p in rows}


async def keys_by_id(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], PublisherKey]:
    """Publisher keys by ``(publisher_id, key_id)``, one query for many."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    params = {"publisher_ids": [p for p, _ in wanted], "key_ids": [k for _, k in wanted]}
    rows = (await session.execute(_KEYS_BY_ID, params)).scalars()
    return {(k.publisher_id, k.key_id): k for k in rows}


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
