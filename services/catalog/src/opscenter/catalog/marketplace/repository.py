# ruff: noqa: S608  -- SQL is assembled from constant fragments; every value is a bind.
"""Marketplace reads (search, facets, featured, categories, versions) and download counting."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.catalog.marketplace.search import (
    ITEM_COLUMNS,
    LISTED,
    SearchParams,
    facets_sql,
    search_sql,
    typo_probe_sql,
)
from opscenter.catalog.models import (
    Download,
    Plugin,
    PluginDependency,
    PluginHook,
    PluginPermission,
    PluginVersion,
)


async def search(session: AsyncSession, params: SearchParams) -> Sequence[Row[Any]]:
    sql, binds = search_sql(params)
    return (await session.execute(text(sql), binds)).all()


async def typo_probe(session: AsyncSession, params: SearchParams) -> bool:
    """Whether the words match so few plugins that the trigram typo fallback joins the match."""
    sql, binds = typo_probe_sql(params)
    return bool((await session.execute(text(sql), binds)).scalar_one())


async def facets(session: AsyncSession, params: SearchParams, typo: bool) -> Sequence[Row[Any]]:
    sql, binds = facets_sql(params, typo)
    return (await session.execute(text(sql), binds)).all()


async def featured(session: AsyncSession, limit: int) -> Sequence[Row[Any]]:
    sql = (
        f"SELECT {ITEM_COLUMNS}, p.featured_rank FROM plugins p "
        f"WHERE {LISTED} AND p.featured_rank IS NOT NULL "
        "AND (p.featured_until IS NULL OR p.featured_until > now()) "
        "ORDER BY p.featured_rank, p.id LIMIT :limit"
    )
    return (await session.execute(text(sql), {"limit": limit})).all()


async def category_counts(session: AsyncSession) -> dict[str, int]:
    sql = f"SELECT p.category, count(*) AS n FROM plugins p WHERE {LISTED} GROUP BY p.category"
    return {r.category: r.n for r in (await session.execute(text(sql))).all()}


async def plugin_by_slug(session: AsyncSession, slug: str) -> Plugin | None:
    return (await session.execute(select(Plugin).where(Plugin.slug == slug))).scalar_one_or_none()


async def versions(
    session: AsyncSession,
    plugin_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[PluginVersion]:
    stmt = select(PluginVersion).where(PluginVersion.plugin_id == plugin_id)
    if after is not None:
        stmt = stmt.where(
            or_(
                PluginVersion.published_at < after[0],
                and_(PluginVersion.published_at == after[0], PluginVersion.id < after[1]),
            )
        )
    stmt = stmt.order_by(PluginVersion.published_at.desc(), PluginVersion.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def version(session: AsyncSession, plugin_id: uuid.UUID, number: str) -> PluginVersion | None:
    stmt = select(PluginVersion).where(
        PluginVersion.plugin_id == plugin_id, PluginVersion.version == number
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def version_parts(
    session: AsyncSession, version_id: uuid.UUID
) -> tuple[list[str], list[PluginHook], dict[str, str]]:
    perms = (
        await session.execute(
            select(PluginPermission.permission).where(PluginPermission.version_id == version_id)
        )
    ).scalars()
    hooks = (
        await session.execute(select(PluginHook).where(PluginHook.version_id == version_id))
    ).scalars()
    deps = await session.execute(
        select(PluginDependency.depends_on_slug, PluginDependency.version_range).where(
            PluginDependency.version_id == version_id
        )
    )
    return sorted(perms), list(hooks), {r[0]: r[1] for r in deps}


async def count_download(
    session: AsyncSession, v: PluginVersion, tenant_id: str, day: date
) -> bool:
    """True when this is the tenant's first download of the version on ``day`` (it counts)."""
    inserted = await session.execute(
        insert(Download)
        .values(version_id=v.id, tenant_id=tenant_id, day=day)
        .on_conflict_do_nothing()
        .returning(Download.day)
    )
    if inserted.first() is None:
        return False
    await session.execute(
        update(PluginVersion)
        .where(PluginVersion.id == v.id)
        .values(download_count=PluginVersion.download_count + 1)
    )
    await session.execute(
        update(Plugin)
        .where(Plugin.id == v.plugin_id)
        .values(download_count=Plugin.download_count + 1)
    )
    return True
