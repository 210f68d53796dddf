"""Public marketplace endpoints (no token needed) and the internal artifact endpoint."""

from __future__ import annotations

import base64
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from opscenter.catalog.deps import CachesDep, SlugPath, StoreDep, VersionPath
from opscenter.catalog.marketplace import service
from opscenter.catalog.marketplace.caching import (
    CACHE_HEADER,
    SEARCH_CACHE_REQUESTS,
    SearchEntry,
    search_key,
)
from opscenter.catalog.marketplace.schemas import (
    CategoryCount,
    FeaturedList,
    MarketplacePage,
    PluginDetail,
    VersionPage,
)
from opscenter.contracts import Category, PluginType
from opscenter.contracts.semver import SEMVER_PATTERN
from opscenter.servicekit.auth import OptionalPrincipal
from opscenter.servicekit.errors import not_found, problem_responses
from opscenter.servicekit.runtime import RuntimeDep

router = APIRouter(tags=["marketplace"])

_PROBLEMS = problem_responses(
    {
        404: "No such plugin or version",
        410: "The plugin was banned; the problem carries the reason",
        422: "Invalid query parameter",
    }
)
_TAG_RE = r"^[a-z0-9][a-z0-9-]{0,31}$"


@router.get(
    "/plugins/marketplace",
    response_model=MarketplacePage,
    responses=_PROBLEMS,
    summary="Browse and search the marketplace",
    description=(
        "Full-text search over name (weight A), tags (B) and description (C) with prefix "
        "matching, plus trigram similarity on the name so a typo still matches. Relevance "
        "blends text rank with a Bayesian rating, installs and recency, and halves unverified "
        "and deprecated plugins. Keyset pagination through `next_cursor`; `facets` (on the "
        "first page) count every match by category, type, pricing and verified. Answers are "
        "cached per process: a listing change (publish, ban, moderation...) shows at once; "
        "ratings and install counts may lag by CATALOG_SEARCH_CACHE_SECONDS plus "
        "CATALOG_SEARCH_CACHE_STALE_SECONDS (default 30 s each)."
    ),
)
async def browse(
    request: Request,
    runtime: RuntimeDep,
    caches: CachesDep,
    q: Annotated[str | None, Query(max_length=200, description="Search words")] = None,
    category: Category | None = None,
    type: PluginType | None = None,
    tag: Annotated[str | None, Query(pattern=_TAG_RE)] = None,
    pricing: Literal["free", "paid"] | None = None,
    verified: bool | None = None,
    compatible_with: Annotated[
        str | None,
        Query(max_length=64, pattern=SEMVER_PATTERN, description="A platform version, e.g. 2.3.0"),
    ] = None,
    sort: Literal["relevance", "popular", "rating", "newest", "name"] = "relevance",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    facets: Annotated[bool, Query(description="Compute facet counts (first page)")] = True,
) -> Response:
    params = service.params_from_query(
        q=q,
        category=category.value if category else None,
        type_=type.value if type else None,
        tag=tag,
        pricing=pricing,
        verified=verified,
        compatible_with=compatible_with,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )

    async def compute() -> SearchEntry:
        async with runtime.uow() as uow:
            found = await service.search(uow, params, with_facets=facets, facet_cache=caches.facets)
        body = found.page.__pydantic_serializer__.to_json(found.page)
        return SearchEntry(body, found.featured_lapses_in)

    # Fresh hits were answered by caching.search_fast_path already; here concurrent misses share
    # one computation, a page past its TTL is served while it is recomputed in the background,
    # and an entry never outlives a listed item's featured flag.
    entry, outcome = await caches.search.lookup(
        search_key(request.scope["query_string"]), compute, lifetime=SearchEntry.lifetime
    )
    SEARCH_CACHE_REQUESTS.labels(outcome).inc()
    return Response(entry.body, media_type="application/json", headers={CACHE_HEADER: outcome})


@router.get(
    "/plugins/marketplace/featured",
    response_model=FeaturedList,
    summary="Featured plugins in rank order (expired entries left out)",
)
async def featured(
    runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> FeaturedList:
    async with runtime.uow() as uow:
        return FeaturedList(items=await service.featured(uow, limit))


@router.get(
    "/plugins/marketplace/categories",
    response_model=list[CategoryCount],
    summary="Every category with the number of listed plugins in it",
)
async def categories(runtime: RuntimeDep, caches: CachesDep) -> list[CategoryCount]:
    async def compute() -> list[CategoryCount]:
        async with runtime.uow() as uow:
            return await service.categories(uow)

    # Counts of listed plugins change only with a listing change, which empties this cache.
    cached: list[CategoryCount] = await caches.categories.get("all", compute)
    return cached


@router.get(
    "/plugins/marketplace/{slug}",
    response_model=PluginDetail,
    responses=_PROBLEMS,
    summary="A plugin's detail: latest version, permissions, hooks, dependencies, rating",
)
async def detail(slug: SlugPath, runtime: RuntimeDep) -> PluginDetail:
    async with runtime.uow() as uow:
        return await service.detail(uow, slug)


@router.get(
    "/plugins/marketplace/{slug}/versions",
    response_model=VersionPage,
    responses=_PROBLEMS,
    summary="A plugin's versions, newest first (yanked ones marked)",
)
async def versions(
    slug: SlugPath,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> VersionPage:
    async with runtime.uow() as uow:
        return await service.versions(uow, slug, limit=limit, cursor=cursor)


def _digest_headers(digest: str, size: int) -> dict[str, str]:
    b64 = base64.b64encode(bytes.fromhex(digest)).decode()
    return {
        "Digest": f"sha-256={b64}",
        "X-Content-SHA256": digest,
        "Content-Length": str(size),
        "Cache-Control": "public, max-age=31536000, immutable",
    }


@router.get(
    "/plugins/marketplace/{slug}/versions/{version}/package",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The package bytes; `Digest: sha-256=<base64>` and "
            "`X-Content-SHA256: <hex>` carry the digest",
        },
        **_PROBLEMS,
    },
    summary="Download a version's package (counted once per tenant, version and day)",
)
async def package(
    slug: SlugPath,
    version: VersionPath,
    runtime: RuntimeDep,
    store: StoreDep,
    principal: OptionalPrincipal,
) -> StreamingResponse:
    tenant_id = principal.tenant_id if principal is not None else None
    async with runtime.uow() as uow:
        found = await service.download(uow, slug, version, tenant_id)
        await uow.commit()
    if not await store.exists(found.digest):
        raise not_found("Package")
    headers = _digest_headers(found.digest, found.size)
    headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return StreamingResponse(
        store.get(found.digest), media_type="application/octet-stream", headers=headers
    )


Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="sha-256, lowercase hex")]


@router.get(
    "/artifacts/sha256/{digest}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The blob"},
        **problem_responses({404: "No such blob"}),
    },
    tags=["internal"],
    summary="Internal: a package blob by its digest (the installer verifies it itself)",
)
async def artifact(digest: Digest, store: StoreDep) -> StreamingResponse:
    if not re.fullmatch(r"[0-9a-f]{64}", digest) or not await store.exists(digest):
        raise not_found("Artifact")
    headers = _digest_headers(digest, 0)
    headers.pop("Content-Length")  # streamed; the installer checks the digest itself
    return StreamingResponse(
        store.get(digest), media_type="application/octet-stream", headers=headers
    )
