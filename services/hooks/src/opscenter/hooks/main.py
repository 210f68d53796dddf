"""The hooks's HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from opscenter.hooks import models
from opscenter.hooks.settings import HooksSettings
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.health import database_check
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(settings: HooksSettings | None = None) -> FastAPI:
    settings = settings or HooksSettings()
    runtime = ServiceRuntime.create(settings, models)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await runtime.dispose()

    app = create_service_app(settings, title="Ops Center hooks", routers=[], lifespan=lifespan)
    app.state.runtime = runtime
    app.state.readiness_checks["database"] = database_check(runtime.engine)
    return app


def run() -> None:
    run_api(create_app, HooksSettings())
