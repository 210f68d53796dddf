"""The hooks service's HTTP API: the hook-event catalog, deliveries and replays, endpoints."""

from __future__ import annotations

from fastapi import FastAPI

from opscenter.hooks import models
from opscenter.hooks.catalog.endpoints import router as catalog_router
from opscenter.hooks.deliveries.endpoints import router as deliveries_router
from opscenter.hooks.secrets import SecretCipher
from opscenter.hooks.settings import HooksSettings
from opscenter.hooks.subscriptions.endpoints import router as subscriptions_router
from opscenter.hooks.tokens import InstallationTokens
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.runtime import ServiceRuntime, run_api


def create_app(settings: HooksSettings | None = None) -> FastAPI:
    settings = settings or HooksSettings()
    runtime = ServiceRuntime.create(settings, models)
    app = create_service_app(
        settings,
        title="Ops Center hooks",
        routers=[catalog_router, deliveries_router, subscriptions_router],
        runtime=runtime,
    )
    app.state.secret_cipher = SecretCipher(settings.secret_key.get_secret_value())
    app.state.installation_tokens = InstallationTokens(
        settings.token_signing_seed.get_secret_value(), settings.token_ttl_s
    )
    return app


def run() -> None:
    run_api(create_app, HooksSettings())
