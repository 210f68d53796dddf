"""The analytics service's HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from opscenter.analytics import models
from opscenter.analytics.metrics.endpoints import router as metrics_router
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    settings = settings or AnalyticsSettings()
    runtime = ServiceRuntime.create(settings, models)
    return create_service_app(
        settings, title="Ops Center analytics", routers=[metrics_router], runtime=runtime
    )


def run() -> None:
    run_api(create_app, AnalyticsSettings())
