"""Assembles a service's FastAPI app with the shared plumbing: problems, auth, health, telemetry."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from opscenter.servicekit.auth import TokenVerifier
from opscenter.servicekit.errors import document_problems, install_problem_handlers
from opscenter.servicekit.health import health_router
from opscenter.servicekit.logs import configure_logging
from opscenter.servicekit.nul_guard import RejectNulMiddleware
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.telemetry import configure_tracing, instrument_app

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

API_PREFIX = "/api/v1"


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: list[APIRouter],
    lifespan: Lifespan | None = None,
    version: str = "0.1.0",
) -> FastAPI:
    configure_logging(settings)
    configure_tracing(settings)
    app = FastAPI(
        title=title,
        version=version,
        lifespan=_with_start_up(lifespan),
        openapi_url=f"{API_PREFIX}/{settings.service_name}/openapi.json",
        docs_url=f"{API_PREFIX}/{settings.service_name}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    app.state.readiness_checks = {}
    install_problem_handlers(app)
    _document_problems_in_openapi(app)
    app.add_middleware(RejectNulMiddleware)
    app.include_router(health_router())
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    instrument_app(app)
    return app


def _with_start_up(lifespan: Lifespan | None) -> Lifespan:
    """The service's lifespan, after the start-up every API shares: its connection pool opened
    (`app.state.runtime`, set by the service) and the garbage collector told to leave alone
    what exists by then (modules, routes, models: never garbage, yet each full collection
    would walk all of them again)."""

    @asynccontextmanager
    async def start_up(app: FastAPI) -> AsyncIterator[None]:
        runtime = getattr(app.state, "runtime", None)
        if runtime is not None:
            await runtime.warm_up()
        gc.freeze()
        if lifespan is None:
            yield
            return
        async with lifespan(app):
            yield

    return start_up


def _document_problems_in_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
