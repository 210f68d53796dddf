"""Fixtures: a migrated hooks database per test with the service's real consumers, API and
dispatcher (``opscenter.hooks.testing.Hooks``), and a loopback webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from opscenter.hooks import models, worker
from opscenter.hooks.main import create_app
from opscenter.hooks.testing import ArtifactServer, DeadLetters, Hooks, Receiver, hooks_settings
from opscenter.servicekit.kafka import create_broker
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import LocalStack, drop_database, migrated_database


@pytest.fixture
async def hooks(local_stack: LocalStack) -> AsyncIterator[Hooks]:
    url = await migrated_database(local_stack, "hooks")
    settings = hooks_settings(url, local_stack)
    runtime = ServiceRuntime.create(settings, models)
    dead = DeadLetters()
    consumers = {}
    for c in worker.consumers(runtime, create_broker(settings)):
        c.dead_letter = dead
        c.retry_backoff_s = 0.0
        consumers[c.name] = c
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hooks"
    ) as api:
        yield Hooks(settings, runtime, api, consumers, dead)
    await app.state.runtime.dispose()
    await runtime.dispose()
    await drop_database(local_stack, url)


@pytest.fixture
async def catalog() -> AsyncIterator[ArtifactServer]:
    """A catalog stand-in serving handler packages by digest."""
    server = ArtifactServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
