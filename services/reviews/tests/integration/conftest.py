"""One migrated reviews database, its worker (consumers) and outbox relay in-process, and the API
driven through HTTP. The catalog's and installer's events reach the worker through the real
Kafka broker, sent by ``World`` (which stands in for those services)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from opscenter.contracts import (
    ALL_TOPICS,
    EventPayload,
    InstallationInstalledV1,
    InstallationState,
    InstallationUninstalledV1,
    PluginBannedV1,
    PluginRegisteredV1,
    new_event,
    record_for_event,
)
from opscenter.reviews import models, worker
from opscenter.reviews.main import create_app
from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.consumer import subscribe
from opscenter.servicekit.kafka import create_broker, ensure_topics
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import (
    LocalStack,
    drop_database,
    migrated_database,
    running_relay,
    start_groups_at_end,
)


@pytest.fixture(scope="session")
async def db_url(local_stack: LocalStack) -> AsyncIterator[str]:
    url = await migrated_database(local_stack, "reviews")
    yield url
    await drop_database(local_stack, url)


@pytest.fixture(scope="session")
def settings(db_url: str, local_stack: LocalStack) -> ReviewsSettings:
    return ReviewsSettings(
        database_url=db_url,
        kafka_bootstrap=local_stack.kafka_bootstrap,
        # A unique name keeps this run's consumer groups apart from other runs'.
        service_name=f"reviews-t{uuid.uuid4().hex[:8]}",
        # 200 concurrent writes of one plugin queue for 10 connections and commit one after
        # another (its lock); on a busy shared host that can take longer than the default 30 s.
        db_pool_timeout_s=180,
        log_json=False,
    )


@pytest.fixture(scope="session")
async def runtime(settings: ReviewsSettings) -> AsyncIterator[ServiceRuntime]:
    """The reviews worker (its consumers) and outbox relay, running for the whole session."""
    await ensure_topics(settings.kafka_bootstrap, ALL_TOPICS)
    runtime = ServiceRuntime.create(settings, models)
    broker = create_broker(settings)
    consumers = worker.consumers(runtime, broker)
    await start_groups_at_end(
        settings.kafka_bootstrap, [(c.name, list(c.topics)) for c in consumers]
    )
    for consumer in consumers:
        subscribe(broker, consumer, max_records=100)
    await broker.start()
    async with running_relay(settings.database_url, settings.kafka_bootstrap):
        yield runtime
    await broker.stop()
    await runtime.dispose()


@pytest.fixture(scope="session")
async def client(
    settings: ReviewsSettings, runtime: ServiceRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    await app.state.runtime.dispose()


class Tokens:
    def __init__(self, settings: ReviewsSettings) -> None:
        self.settings = settings

    def _bearer(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_dev_token(self.settings, **claims)}"}

    def member(self, tenant_id: str, user: str | None = None) -> dict[str, str]:
        return self._bearer(
            sub=user or f"user-{uuid.uuid4().hex[:8]}", tenant_id=tenant_id, roles=["member"]
        )

    def developer(self, publisher_id: str) -> dict[str, str]:
        return self._bearer(
            sub=f"dev-{publisher_id}", roles=["developer"], publisher_id=publisher_id
        )

    def admin(self) -> dict[str, str]:
        return self._bearer(sub="admin-1", roles=["platform_admin"])


@pytest.fixture(scope="session")
def tokens(settings: ReviewsSettings) -> Tokens:
    return Tokens(settings)


@dataclass(frozen=True)
class Plugin:
    id: uuid.UUID
    slug: str
    publisher_id: str

    @property
    def reviews(self) -> str:
        return f"/api/v1/plugins/marketplace/{self.slug}/reviews"


@dataclass
class World:
    """Stands in for the catalog and the installer: sends their events to Kafka and waits until
    the reviews worker has applied them."""

    runtime: ServiceRuntime
    producer: AIOKafkaProducer

    async def send(self, payload: EventPayload, *, event_id: str | None = None) -> None:
        record = record_for_event(new_event(payload, source="/tests", event_id=event_id))
        await self.producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )

    async def plugin(self, publisher_id: str | None = None) -> Plugin:
        plugin = Plugin(
            uuid.uuid4(),
            f"rv-{uuid.uuid4().hex[:10]}",
            publisher_id or f"pub-{uuid.uuid4().hex[:6]}",
        )
        await self.send(
            PluginRegisteredV1(
                plugin_id=plugin.id,
                slug=plugin.slug,
                publisher_id=plugin.publisher_id,
                name="Reviewed Plugin",
                type="backend",
                category="monitoring",
                pricing={"free": True},
            )
        )
        await self.wait_for("SELECT 1 FROM plugins WHERE plugin_id = :p", p=plugin.id)
        return plugin

    def installed(
        self,
        plugin: Plugin,
        tenant_id: str,
        *,
        installation_id: uuid.UUID,
        version: str = "1.0.0",
        sequence: int = 2,
    ) -> InstallationInstalledV1:
        return InstallationInstalledV1(
            installation_id=installation_id,
            tenant_id=tenant_id,
            plugin_id=plugin.id,
            slug=plugin.slug,
            version=version,
            state=InstallationState.INSTALLED,
            sequence=sequence,
        )

    async def install(self, plugin: Plugin, tenant_id: str, version: str = "1.0.0") -> uuid.UUID:
        installation_id = uuid.uuid4()
        await self.send(
            self.installed(plugin, tenant_id, installation_id=installation_id, version=version)
        )
        await self.wait_for(
            "SELECT 1 FROM installations WHERE installation_id = :i", i=installation_id
        )
        return installation_id

    async def uninstall(
        self,
        plugin: Plugin,
        tenant_id: str,
        installation_id: uuid.UUID,
        *,
        version: str = "1.0.0",
        sequence: int = 9,
    ) -> None:
        await self.send(
            InstallationUninstalledV1(
                installation_id=installation_id,
                tenant_id=tenant_id,
                plugin_id=plugin.id,
                slug=plugin.slug,
                version=version,
                state=InstallationState.UNINSTALLED,
                sequence=sequence,
            )
        )
        await self.wait_for(
            "SELECT 1 FROM installations WHERE installation_id = :i AND NOT installed",
            i=installation_id,
        )

    async def ban(self, plugin: Plugin) -> None:
        await self.send(PluginBannedV1(plugin_id=plugin.id, slug=plugin.slug, reason="malware"))
        await self.wait_for(
            "SELECT 1 FROM plugins WHERE plugin_id = :p AND banned_at IS NOT NULL", p=plugin.id
        )

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.runtime.sessions() as session:
            result = await session.execute(text(sql), params)
            return [dict(r._mapping) for r in result]

    async def wait_for(self, sql: str, timeout_s: float = 30.0, **params: Any) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            if await self.rows(sql, **params):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the projection never showed: {sql} {params}")


@pytest.fixture(scope="session")
async def world(runtime: ServiceRuntime) -> AsyncIterator[World]:
    producer = AIOKafkaProducer(bootstrap_servers=runtime.settings.kafka_bootstrap, acks="all")
    await producer.start()
    yield World(runtime, producer)
    await producer.stop()


@dataclass
class Reviewer:
    """A member of a tenant that installed the plugin."""

    tenant_id: str
    user_id: str
    headers: dict[str, str]


@pytest.fixture
async def plugin(world: World) -> Plugin:
    return await world.plugin()


@pytest.fixture
def reviewer(world: World, tokens: Tokens, plugin: Plugin) -> Any:
    """``await reviewer()``: a new member of a new tenant that installed ``plugin``."""

    async def make(version: str = "1.0.0") -> Reviewer:
        tenant = f"tenant-{uuid.uuid4().hex[:8]}"
        user = f"user-{uuid.uuid4().hex[:8]}"
        await world.install(plugin, tenant, version)
        return Reviewer(tenant, user, tokens.member(tenant, user))

    return make


@pytest.fixture(scope="session")
def review_body() -> Any:
    """``review_body(rating, **fields)``: a valid review body."""

    def make(rating: int = 4, **over: Any) -> dict[str, Any]:
        return {"rating": rating, "title": "Works well", "body": "Solid.", **over}

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(Path(str(item.fspath))):
            item.add_marker(pytest.mark.integration)
