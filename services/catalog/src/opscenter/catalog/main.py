"""The catalog's HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from opscenter.catalog import models
from opscenter.catalog.artifacts import ArtifactStore, FilesystemArtifactStore
from opscenter.catalog.marketplace.caching import MarketplaceCaches, search_fast_path
from opscenter.catalog.marketplace.endpoints import router as marketplace_router
from opscenter.catalog.moderation.endpoints import router as moderation_router
from opscenter.catalog.plugins.endpoints import router as publishing_router
from opscenter.catalog.settings import CatalogSettings
from opscenter.servicekit.app import add_outer_middleware, create_service_app
from opscenter.servicekit.notify_cache import InvalidateOnWrite
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(
    settings: CatalogSettings | None = None, *, artifact_store: ArtifactStore | None = None
) -> FastAPI:
    settings = settings or CatalogSettings()
    runtime = ServiceRuntime.create(settings, models)
    caches = MarketplaceCaches.create(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await caches.listener.start()
        try:
            yield
        finally:
            await caches.listener.stop()

    app = create_service_app(
        settings,
        title="Ops Center catalog",
        routers=[publishing_router, marketplace_router, moderation_router],
        runtime=runtime,
        lifespan=lifespan,
    )
    app.state.artifact_store = artifact_store or FilesystemArtifactStore(settings.artifact_root)
    app.state.marketplace_caches = caches
    # A write empties this process's caches before its answer leaves; a search hit is answered
    # before anything else runs (no span, routing or other middleware).
    app.add_middleware(InvalidateOnWrite, listener=caches.listener)
    add_outer_middleware(app, search_fast_path, caches=caches)
    return app


def run() -> None:
    run_api(create_app, CatalogSettings())
