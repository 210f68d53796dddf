"""The reviews service's HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from opscenter.reviews import models
from opscenter.reviews.reviews.endpoints import router as reviews_router
from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(settings: ReviewsSettings | None = None) -> FastAPI:
    settings = settings or ReviewsSettings()
    runtime = ServiceRuntime.create(settings, models)
    return create_service_app(
        settings, title="Ops Center reviews", routers=[reviews_router], runtime=runtime
    )


def run() -> None:
    run_api(create_app, ReviewsSettings())
