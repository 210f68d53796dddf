"""FastAPI dependencies shared by the catalog's endpoints (HTTP layer only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from opscenter.catalog.artifacts import ArtifactStore
from opscenter.catalog.marketplace.facet_cache import FacetCache
from opscenter.catalog.settings import CatalogSettings
from opscenter.servicekit.auth import Principal
from opscenter.servicekit.idempotency import fingerprint
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.uow import UnitOfWork


def get_settings(request: Request) -> CatalogSettings:
    settings: CatalogSettings = request.app.state.settings
    return settings


def get_store(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.artifact_store
    return store


def get_facet_cache(request: Request) -> FacetCache[Any]:
    cache: FacetCache[Any] = request.app.state.facet_cache
    return cache


FacetCacheDep = Annotated[FacetCache[Any], Depends(get_facet_cache)]
SettingsDep = Annotated[CatalogSettings, Depends(get_settings)]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]

PluginRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="The plugin's UUID or its slug (a slug never has a UUID's shape).",
    ),
]
SlugPath = Annotated[str, Path(min_length=1, max_length=64, description="The plugin's slug")]
VersionPath = Annotated[str, Path(min_length=1, max_length=256, description="A SemVer version")]


async def idempotent_write(
    runtime: ServiceRuntime,
    request: Request,
    principal: Principal,
    key: str | None,
    request_parts: Any,
    work: Callable[[UnitOfWork], Awaitable[BaseModel | None]],
    *,
    status_code: int = 200,
) -> Response:
    """Runs ``work`` in one unit of work guarded by ``Idempotency-Key``: a retry with the same
    key and request gets the first answer; the key and the effect commit together."""
    scope = f"{principal.subject}:{principal.tenant_id or '-'}:{request.method} {request.url.path}"
    async with runtime.uow() as uow:
        replay = await runtime.idempotency.begin(
            uow.session, scope, key, fingerprint(request_parts)
        )
        if replay is not None:
            return replay.response()
        result = await work(uow)
        body = result.model_dump(mode="json") if result is not None else None
        await runtime.idempotency.finish(uow.session, scope, key, status_code, body)
        await uow.commit()
    if body is None:
        return Response(status_code=status_code)
    return JSONResponse(body, status_code=status_code)


def problem_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem+json answers."""
    return {
        status: {"description": text, "content": {"application/problem+json": {}}}
        for status, text in described.items()
    }
