"""The analytics's HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from opscenter.analytics import models
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.health import database_check
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    settings = settings or AnalyticsSettings()
    runtime = ServiceRuntime.create(settings, models)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await runtime.dispose()

    app = create_service_app(settings, title="Ops Center analytics", routers=[], lifespan=lifespan)
    app.state.runtime = runtime
    app.state.readiness_checks["database"] = database_check(runtime.engine)
    return app


def run() -> None:
    run_api(create_app, AnalyticsSettings())
