"""Reads and writes of the catalog projection.

``..._snapshots`` readers return read-only driver snapshots (the hot paths' reads, ADR 0010);
the projection's handlers change rows through the ORM (``upsert_...``)."""

# ruff: noqa: S608 - the SQL interpolates column lists from the models; values are $n parameters.

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.installer.models import CatalogPlugin, CatalogVersion, PublisherKey
from opscenter.servicekit.driver import (
    column_list,
    driver,
    one_snapshot,
    select_from,
    snapshot,
    snapshots,
)


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


# Read by every install request and executor batch; lists travel as array parameters.
_PLUGINS = select_from(CatalogPlugin, "p")
_PLUGIN_BY_ID = _PLUGINS + " WHERE p.plugin_id = $1"
_PLUGIN_BY_SLUG = _PLUGINS + " WHERE p.slug = $1"
_PLUGINS_BY_ID = _PLUGINS + " WHERE p.plugin_id = ANY($1::uuid[])"
_VERSIONS_BY_KEY = select_from(CatalogVersion, "v") + (
    " WHERE (v.plugin_id, v.version) IN (SELECT unnest($1::uuid[]), unnest($2::varchar[]))"
)
_KEYS_BY_ID = select_from(PublisherKey, "k") + (
    " WHERE (k.publisher_id, k.key_id) IN (SELECT unnest($1::varchar[]), unnest($2::varchar[]))"
)
# Every version (with its plugin) of the plugins reachable from $1 through any version's
# dependency keys; UNION stops at cycles.
_CLOSURE = f"""
WITH RECURSIVE reach(slug) AS (
    SELECT unnest($1::varchar[])
    UNION
    SELECT jsonb_object_keys(d.dependencies)
    FROM catalog_versions d JOIN reach r ON d.slug = r.slug
)
SELECT {column_list(CatalogVersion, "v", "v_")}, {column_list(CatalogPlugin, "p", "p_")}
FROM catalog_versions v JOIN catalog_plugins p ON p.plugin_id = v.plugin_id
WHERE v.slug IN (SELECT slug FROM reach)
"""


async def plugin_snapshot(session: AsyncSession, ref: str | uuid.UUID) -> CatalogPlugin | None:
    """By UUID or slug (a slug never has a UUID's shape)."""
    value: str | uuid.UUID
    try:
        value = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
        sql = _PLUGIN_BY_ID
    except ValueError:
        value, sql = str(ref), _PLUGIN_BY_SLUG
    return await one_snapshot(session, CatalogPlugin, sql, value)


async def get_version(
    session: AsyncSession, plugin_id: uuid.UUID, version: str
) -> CatalogVersion | None:
    return await session.get(CatalogVersion, (plugin_id, version))


async def closure_snapshots(
    session: AsyncSession, slugs: Iterable[str]
) -> Sequence[tuple[CatalogVersion, CatalogPlugin]]:
    """Every published version (with its plugin) of the plugins reachable from ``slugs`` through
    any version's dependencies, in ONE query (a recursive CTE over the dependency keys; UNION
    stops at cycles)."""
    wanted = sorted(set(slugs))
    if not wanted:
        return []
    rows = await (await driver(session)).fetch(_CLOSURE, wanted)
    return [(snapshot(CatalogVersion, r, "v_"), snapshot(CatalogPlugin, r, "p_")) for r in rows]


async def version_snapshots(
    session: AsyncSession, keys: Iterable[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], CatalogVersion]:
    """Versions by ``(plugin_id, version)``, one query for many."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    versions = await snapshots(
        session, CatalogVersion, _VERSIONS_BY_KEY, [p for p, _ in wanted], [v for _, v in wanted]
    )
    return {(v.plugin_id, v.version): v for v in versions}


async def plugin_snapshots(
    session: AsyncSession, plugin_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, CatalogPlugin]:
    wanted = list(set(plugin_ids))
    if not wanted:
        return {}
    plugins = await snapshots(session, CatalogPlugin, _PLUGINS_BY_ID, wanted)
    return {p.plugin_id: p for p in plugins}


async def key_snapshots(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], PublisherKey]:
    """Publisher keys by ``(publisher_id, key_id)``, one query for many."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    found = await snapshots(
        session, PublisherKey, _KEYS_BY_ID, [p for p, _ in wanted], [k for _, k in wanted]
    )
    return {(k.publisher_id, k.key_id): k for k in found}


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
