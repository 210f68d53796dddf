"""The hooks service's HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from opscenter.hooks import models
from opscenter.hooks.settings import HooksSettings
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(settings: HooksSettings | None = None) -> FastAPI:
    settings = settings or HooksSettings()
    runtime = ServiceRuntime.create(settings, models)
    return create_service_app(settings, title="Ops Center hooks", routers=[], runtime=runtime)


def run() -> None:
    run_api(create_app, HooksSettings())
