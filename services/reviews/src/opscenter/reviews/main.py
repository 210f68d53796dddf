"""The reviews service's HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from opscenter.reviews import models
from opscenter.reviews.list_cache import ListCache, list_fast_path
from opscenter.reviews.reviews.endpoints import router as reviews_router
from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.app import add_outer_middleware, create_service_app
from opscenter.servicekit.notify_cache import InvalidateOnWrite
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(settings: ReviewsSettings | None = None) -> FastAPI:
    settings = settings or ReviewsSettings()
    runtime = ServiceRuntime.create(settings, models)
    cache = ListCache.create(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await cache.listener.start()
        try:
            yield
        finally:
            await cache.listener.stop()

    app = create_service_app(
        settings,
        title="Ops Center reviews",
        routers=[reviews_router],
        runtime=runtime,
        lifespan=lifespan,
    )
    app.state.list_cache = cache
    # A write empties this process's cache before its answer leaves; a list hit is answered
    # before anything else runs (no span, routing or other middleware).
    app.add_middleware(InvalidateOnWrite, listener=cache.listener)
    add_outer_middleware(app, list_fast_path, cache=cache)
    return app


def run() -> None:
    run_api(create_app, ReviewsSettings())
