"""The reviews service's HTTP API."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

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
    _answer_list_reads_first(app, runtime)
    return app


def _answer_list_reads_first(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Puts ``ListFastPath`` outside the whole middleware stack, tracing's too (whose
    instrumentor wraps the stack Starlette builds; ``add_middleware`` would land inside it)."""
    build = app.build_middleware_stack

    def build_with_fast_path() -> ASGIApp:
        return ListFastPath(build(), runtime)

    app.build_middleware_stack = build_with_fast_path  # type: ignore[method-assign]


def run() -> None:
    run_api(create_app, ReviewsSettings())
