"""Marketplace: search and browse (banned plugins never appear), detail (410 once banned),
versions, and package downloads counted once per tenant, version and UTC day."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opscenter.catalog import compat
from opscenter.catalog.marketplace import repository as repo
from opscenter.catalog.marketplace.schemas import (
    CategoryCount,
    Deprecation,
    Facets,
    FeaturedPlugin,
    HookRead,
    MarketplacePage,
    PluginDetail,
    PluginSummary,
    Rating,
    VersionDetail,
    VersionPage,
    VersionRead,
)
from opscenter.catalog.marketplace.search import SearchParams
from opscenter.catalog.models import Plugin, PluginVersion
from opscenter.contracts import PluginDownloadedV1, parse_version
from opscenter.contracts.catalog import artifact_path
from opscenter.contracts.manifest import CATEGORY_LABELS
from opscenter.servicekit.cursors import (
    cursor_float,
    cursor_int,
    cursor_text,
    cursor_timestamp,
    cursor_uuid,
)
from opscenter.servicekit.errors import Problem, field_error, not_found
from opscenter.servicekit.pagination import (
    decode_cursor,
    decode_time_id_cursor,
    encode_cursor,
    invalid_cursor,
)
from opscenter.servicekit.result_cache import ResultCache
from opscenter.servicekit.uow import UnitOfWork


def _timestamp(value: Any) -> str:
    return cursor_timestamp(value).isoformat()


# The type each sort's key has in a cursor (what `search_sql` casts it to).
_CURSOR_KEY: dict[str, Callable[[Any], Any]] = {
    "relevance": cursor_float,
    "rating": cursor_float,
    "popular": cursor_int,
    "name": cursor_text,
    "newest": _timestamp,
}


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "slug": row.slug,
        "name": row.name,
        "description": row.description,
        "type": row.type,
        "category": row.category,
        "tags": list(row.tags or []),
        "latest_version": row.latest_version,
        "verified": row.verified,
        "featured": bool(row.featured),
        "deprecated": row.deprecated,
        "pricing": row.pricing,
        "rating": Rating(
            average=row.rating_average,
            count=row.rating_count,
            bayesian_average=row.rating_bayesian,
        ),
        "install_count": row.install_count,
        "publisher": row.publisher_id,
    }


def params_from_query(
    *,
    q: str | None,
    category: str | None,
    type_: str | None,
    tag: str | None,
    pricing: str | None,
    verified: bool | None,
    compatible_with: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> SearchParams:
    compatible_key = None
    if compatible_with is not None:
        try:
            compatible_key = compat.version_key(compatible_with)
        except ValueError as exc:
            raise Problem(
                422,
                "validation-error",
                f"compatible_with: {exc}",
                errors=[field_error("query.compatible_with", str(exc))],
            ) from exc
    after = None
    after_tier = None
    typo = None
    ref = time.time()
    if cursor:
        key, last_id, ref, tier, mode = decode_cursor(cursor, 5)
        try:
            # A cursor comes back from the client: every value is checked for its sort's type
            # and range before it reaches SQL, so a tampered one is a 422, never a 500.
            after = [_CURSOR_KEY[sort](key), str(cursor_uuid(last_id))]
            ref = cursor_float(ref, 0, 4e9)
            after_tier = cursor_int(tier, 0, 2)
            tiers = (1, 2) if sort == "relevance" else (0,)
            if not isinstance(mode, bool) or after_tier not in tiers:
                raise ValueError(mode)
            typo = mode
        except (ValueError, TypeError) as exc:
            raise invalid_cursor() from exc
    return SearchParams(
        q=q.strip() or None if q else None,
        category=category,
        type=type_,
        tag=tag,
        pricing=pricing,
        verified=verified,
        compatible_key=compatible_key,
        sort=sort,
        limit=limit,
        after=after,
        ref_epoch=ref,
        after_tier=after_tier,
        typo=typo,
    )


FacetCounts = tuple[tuple[str, str, bool, bool, int], ...]


def _facets(counts: FacetCounts, params: SearchParams) -> Facets:
    """Facets from the joint counts, under the category/type/pricing/verified filters."""
    facets = Facets()
    for category, type_, is_free, verified, n in counts:
        if params.category is not None and category != params.category:
            continue
        if params.type is not None and type_ != params.type:
            continue
        if params.pricing is not None and is_free != (params.pricing == "free"):
            continue
        if params.verified is not None and verified != params.verified:
            continue
        facets.category[category] = facets.category.get(category, 0) + n
        facets.type[type_] = facets.type.get(type_, 0) + n
        pricing = "free" if is_free else "paid"
        facets.pricing[pricing] = facets.pricing.get(pricing, 0) + n
        flag = "true" if verified else "false"
        facets.verified[flag] = facets.verified.get(flag, 0) + n
    return facets


@dataclass(frozen=True)
class SearchAnswer:
    page: MarketplacePage
    #: Seconds until a listed item's ``featured`` flag lapses by itself (None: none will).
    featured_lapses_in: float | None


async def search(
    uow: UnitOfWork,
    params: SearchParams,
    *,
    with_facets: bool,
    facet_cache: ResultCache[FacetCounts] | None = None,
) -> SearchAnswer:
    """One page; the cursor carries the row's tier and the typo mode (see ``search``).
    Facets (first page only) come from ``facet_cache`` when given: they may lag its TTL."""
    if params.q and params.sort != "relevance" and params.typo is None:
        params.typo = await repo.typo_probe(uow.session, params)
    rows = await repo.search(uow.session, params)
    typo = bool(rows[0].typo) if rows else bool(params.typo)
    page = rows[: params.limit]
    next_cursor = None
    if len(rows) > params.limit:
        last = page[-1]
        key = last.sort_key.isoformat() if isinstance(last.sort_key, datetime) else last.sort_key
        next_cursor = encode_cursor([key, str(last.id), params.ref_epoch, last.tier, typo])
    facets = None
    if with_facets and params.after is None:
        if not rows:
            facets = Facets()  # a first page without rows: nothing matches
        else:

            async def compute() -> FacetCounts:
                rows = await repo.facets(uow.session, params, typo)
                return tuple((r.category, r.type, r.is_free, r.verified, r.n) for r in rows)

            if facet_cache is None:
                counts = await compute()
            else:
                counts = await facet_cache.get(params.facet_key(typo), compute)
            facets = _facets(counts, params)
    now = datetime.now(UTC)
    lapses = [
        (r.featured_until - now).total_seconds()
        for r in page
        if r.featured and r.featured_until is not None
    ]
    return SearchAnswer(
        MarketplacePage(
            items=[PluginSummary(**_summary(r)) for r in page],
            facets=facets,
            next_cursor=next_cursor,
        ),
        featured_lapses_in=max(min(lapses), 0.0) if lapses else None,
    )


async def featured(uow: UnitOfWork, limit: int) -> list[FeaturedPlugin]:
    rows = await repo.featured(uow.session, limit)
    return [
        FeaturedPlugin(**_summary(r), rank=r.featured_rank, until=r.featured_until) for r in rows
    ]


async def categories(uow: UnitOfWork) -> list[CategoryCount]:
    counts = await repo.category_counts(uow.session)
    return [
        CategoryCount(category=c.value, label=label, count=counts.get(c.value, 0))
        for c, label in CATEGORY_LABELS.items()
    ]


def _gone(plugin: Plugin) -> Problem:
    return Problem(
        410,
        "plugin-banned",
        f"The plugin {plugin.slug} was removed from the marketplace: {plugin.ban_reason}",
        reason=plugin.ban_reason,
        banned_at=plugin.banned_at.isoformat() if plugin.banned_at else None,
    )


async def listed_plugin(uow: UnitOfWork, slug: str) -> Plugin:
    """The plugin named ``slug``; 404 when unknown or never published (a registered plugin is its
    publisher's draft until its first version; one whose versions were all yanked stays
    readable, so exact pins still download), 410 with the reason when banned."""
    plugin = await repo.plugin_by_slug(uow.session, slug)
    if plugin is None or plugin.latest_published_at is None:
        raise not_found("Plugin")
    if plugin.banned_at is not None:
        raise _gone(plugin)
    return plugin


async def version_detail(uow: UnitOfWork, plugin: Plugin, v: PluginVersion) -> VersionDetail:
    perms, hooks, deps = await repo.version_parts(uow.session, v.id)
    return VersionDetail(
        version=v.version,
        published_at=v.published_at,
        yanked=v.yanked_at is not None,
        digest=v.digest,
        size=v.size,
        signed=v.signature is not None,
        compatibility=v.compatibility,
        changelog=v.changelog,
        permissions=perms,
        hooks=[HookRead(name=h.name, handler=h.handler, url=h.url) for h in hooks],
        dependencies=deps,
        config_schema=v.manifest.get("config_schema"),
        package_path=artifact_path(plugin.slug, v.version),
    )


async def detail(uow: UnitOfWork, slug: str) -> PluginDetail:
    plugin = await listed_plugin(uow, slug)
    latest = None
    if plugin.latest_version is not None:
        v = await repo.version(uow.session, plugin.id, plugin.latest_version)
        if v is not None:
            latest = await version_detail(uow, plugin, v)
    now = datetime.now(UTC)
    featured = plugin.featured_rank is not None and (
        plugin.featured_until is None or plugin.featured_until > now
    )
    histogram = plugin.rating_histogram or {}
    return PluginDetail(
        id=plugin.id,
        slug=plugin.slug,
        name=plugin.name,
        description=plugin.description,
        type=plugin.type,
        category=plugin.category,
        tags=list(plugin.tags),
        latest_version=plugin.latest_version,
        verified=plugin.verified,
        featured=featured,
        deprecated=plugin.deprecated,
        pricing=plugin.pricing,
        rating=Rating(
            average=plugin.rating_average,
            count=plugin.rating_count,
            bayesian_average=plugin.rating_bayesian,
        ),
        install_count=plugin.install_count,
        publisher=plugin.publisher_id,
        histogram={str(k): int(histogram.get(str(k), 0)) for k in range(1, 6)},
        download_count=plugin.download_count,
        deprecation=Deprecation(
            reason=plugin.deprecation_reason, replacement=plugin.replacement_slug
        )
        if plugin.deprecated
        else None,
        latest=latest,
        created_at=plugin.created_at,
        updated_at=plugin.updated_at,
    )


async def versions(uow: UnitOfWork, slug: str, *, limit: int, cursor: str | None) -> VersionPage:
    plugin = await listed_plugin(uow, slug)
    after = None
    if cursor:
        after = decode_time_id_cursor(cursor)
    rows: Sequence[PluginVersion] = await repo.versions(
        uow.session, plugin.id, after=after, limit=limit + 1
    )
    page = rows[:limit]
    next_cursor = (
        encode_cursor([page[-1].published_at.isoformat(), str(page[-1].id)])
        if len(rows) > limit
        else None
    )
    return VersionPage(
        items=[
            VersionRead(
                version=v.version,
                published_at=v.published_at,
                yanked=v.yanked_at is not None,
                yank_reason=v.yank_reason,
                digest=v.digest,
                size=v.size,
                signed=v.signature is not None,
                signing_key_id=v.signing_key_id,
                compatibility=v.compatibility,
                changelog=v.changelog,
                download_count=v.download_count,
            )
            for v in page
        ],
        next_cursor=next_cursor,
    )


@dataclass(frozen=True)
class Download:
    digest: str
    size: int
    filename: str
    counted: bool


async def download(uow: UnitOfWork, slug: str, number: str, tenant_id: str | None) -> Download:
    """The version's blob address; counts it (and emits) once per tenant, version and UTC day.
    Yanked versions still download: exact pins must keep resolving."""
    try:
        parse_version(number)
    except ValueError as exc:
        raise not_found("Version") from exc
    plugin = await listed_plugin(uow, slug)
    v = await repo.version(uow.session, plugin.id, number)
    if v is None:
        raise not_found("Version")
    counted = False
    if tenant_id is not None:
        day = datetime.now(UTC).date()
        counted = await repo.count_download(uow.session, v, tenant_id, day)
        if counted:
            await uow.emit(
                PluginDownloadedV1(
                    plugin_id=plugin.id,
                    slug=plugin.slug,
                    version=v.version,
                    tenant_id=tenant_id,
                    day=day,
                ),
                tenant_id=tenant_id,
            )
    return Download(
        digest=v.digest,
        size=v.size,
        filename=f"{plugin.slug}-{v.version}.pkg",
        counted=counted,
    )
