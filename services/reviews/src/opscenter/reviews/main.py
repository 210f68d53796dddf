"""The reviews's HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from opscenter.reviews import models
from opscenter.reviews.reviews.endpoints import router as reviews_router
from opscenter.reviews.reviews.fastpath import ListFastPath
from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(settings: ReviewsSettings | None = None) -> FastAPI:
    settings = settings or ReviewsSettings()
    runtime = ServiceRuntime.create(settings, models)
    app = create_service_app(
        settings, title="Ops Center reviews", routers=[reviews_router], runtime=runtime
    )
    # Outermost: an anonymous list read is answered before any other middleware or routing.
    app.add_middleware(ListFastPath, runtime=runtime)
    return app


def run() -> None:
    run_api(create_app, ReviewsSettings())
