"""The installer's HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from opscenter.installer import models
from opscenter.installer.config import ConfigCipher
from opscenter.installer.entitlements.endpoints import router as entitlements_router
from opscenter.installer.installations.endpoints import router as installations_router
from opscenter.installer.settings import InstallerSettings
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(settings: InstallerSettings | None = None) -> FastAPI:
    settings = settings or InstallerSettings()
    runtime = ServiceRuntime.create(settings, models)

    app = create_service_app(
        settings,
        title="Ops Center installer",
        routers=[installations_router, entitlements_router],
        runtime=runtime,
    )
    app.state.cipher = ConfigCipher(
        settings.secret_key.get_secret_value(), settings.hooks_config_public_key
    )
    return app


def run() -> None:
    run_api(create_app, InstallerSettings())
