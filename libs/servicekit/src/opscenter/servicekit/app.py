"""Assembles a service's FastAPI app with the shared plumbing: problems, auth, health, telemetry."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from opscenter.servicekit.auth import TokenVerifier, document_auth
from opscenter.servicekit.containment import ContainErrors, fault_router
from opscenter.servicekit.devsignin import dev_sign_in_router
from opscenter.servicekit.errors import document_problems, install_problem_handlers
from opscenter.servicekit.health import database_check, health_router
from opscenter.servicekit.logs import configure_logging
from opscenter.servicekit.nul_guard import RejectNulMiddleware
from opscenter.servicekit.request_metrics import RequestMetrics
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.telemetry import configure_tracing, instrument_app

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

API_PREFIX = "/api/v1"


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: list[APIRouter],
    runtime: ServiceRuntime | None = None,
    lifespan: Lifespan | None = None,
    version: str = "0.1.0",
) -> FastAPI:
    configure_logging(settings)
    configure_tracing(settings, "api")
    app = FastAPI(
        title=title,
        version=version,
        lifespan=_around(runtime, lifespan),
        openapi_url=f"{API_PREFIX}/{settings.service_name}/openapi.json",
        docs_url=f"{API_PREFIX}/{settings.service_name}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    app.state.readiness_checks = {}
    if runtime is not None:
        app.state.runtime = runtime
        app.state.readiness_checks["database"] = database_check(runtime.engine)
    install_problem_handlers(app)
    _document_problems_in_openapi(app)
    app.add_middleware(
        RejectNulMiddleware,
        max_body_bytes=settings.max_json_body_bytes,
        max_depth=settings.max_json_depth,
    )
    # Added last, so outermost of the app's own middleware (inside the request's span).
    app.add_middleware(RequestMetrics, prefix=API_PREFIX)
    app.include_router(health_router())
    if settings.fault_route:
        app.include_router(fault_router())
    if settings.dev_sign_in:
        app.include_router(dev_sign_in_router(), prefix=API_PREFIX)
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    instrument_app(app)
    _contain_errors(app)
    return app


OuterMiddleware = Callable[..., ASGIApp]


def add_outer_middleware(app: FastAPI, factory: OuterMiddleware, **options: Any) -> None:
    """Adds ``factory(app, **options)`` outside the whole instrumented stack (only
    `ContainErrors` is outside it): for a cache's fast path, whose hits then cost no span, no
    metrics and no routing. The last one added is the outermost. Anything that needs a span,
    auth or the NUL guard belongs in ``app.add_middleware`` instead."""
    app.state.outer_middleware = [*getattr(app.state, "outer_middleware", []), (factory, options)]


def _contain_errors(app: FastAPI) -> None:
    """Wraps the built middleware stack, whatever the service adds to it later, in the outer
    middleware and then `ContainErrors`: Starlette's own outermost error middleware re-raises
    after answering."""
    build = app.build_middleware_stack

    def build_contained() -> Any:
        stack = build()
        for factory, options in getattr(app.state, "outer_middleware", []):
            stack = factory(stack, **options)
        return ContainErrors(stack)

    app.build_middleware_stack = build_contained  # type: ignore[method-assign]


def _around(runtime: ServiceRuntime | None, lifespan: Lifespan | None) -> Lifespan:
    """The service's own lifespan inside what every API shares: before it, the connection pool
    opened and the garbage collector told to leave alone what exists by then (modules, routes,
    models: never garbage, yet each full collection would walk all of them again); after it,
    the runtime disposed."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            await runtime.warm_up()
        gc.freeze()
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            if runtime is not None:
                await runtime.dispose()

    return run


def _document_problems_in_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(document_auth(generate(), app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
