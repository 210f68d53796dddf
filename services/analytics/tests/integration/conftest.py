"""A migrated analytics database, its app and its metrics consumer (real Postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import httpx
import pytest

from opscenter.analytics import models
from opscenter.analytics.ingest.handlers import HANDLED_TYPES, on_events
from opscenter.analytics.main import create_app
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.analytics.testing import Tokens
from opscenter.analytics.worker import METRIC_TOPICS
from opscenter.contracts import CloudEvent, ContractError, UnknownEventType, record_for_event
from opscenter.servicekit.consumer import EventConsumer
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import (
    LocalStack,
    consumer_record,
    drop_database,
    migrated_database,
)


@pytest.fixture(scope="session")
async def db_url(local_stack: LocalStack) -> AsyncIterator[str]:
    url = await migrated_database(local_stack, "analytics")
    yield url
    await drop_database(local_stack, url)


def make_settings(db_url: str, local_stack: LocalStack, **over: object) -> AnalyticsSettings:
    return AnalyticsSettings(
        database_url=db_url,
        kafka_bootstrap=local_stack.kafka_bootstrap,
        log_json=False,
        **over,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def settings(db_url: str, local_stack: LocalStack) -> AnalyticsSettings:
    return make_settings(db_url, local_stack)


@pytest.fixture(scope="session")
async def client(settings: AnalyticsSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
    await app.state.runtime.dispose()


@pytest.fixture(scope="session")
def tokens(settings: AnalyticsSettings) -> Tokens:
    return Tokens(settings)


class DeadLetters:
    def __init__(self) -> None:
        self.records: list[dict[str, str]] = []

    async def __call__(
        self, topic: str, value: bytes, key: bytes | None, headers: dict[str, str]
    ) -> None:
        self.records.append({"topic": topic, **headers})


def metrics_consumer(runtime: ServiceRuntime, dead: DeadLetters) -> EventConsumer:
    return EventConsumer(
        name="analytics.metrics",
        topics=METRIC_TOPICS,
        handler=None,
        batch_handler=on_events,
        sessions=runtime.sessions,
        inbox=runtime.inbox,
        dead_letter=dead,
        retry_backoff_s=0.0,
        types=HANDLED_TYPES,
    )


def records_of(events: Sequence[CloudEvent]) -> list:  # type: ignore[type-arg]
    """Records as the producers would send them; an event whose payload does not parse (a
    poison message) goes to its type's topic as it is."""
    out = []
    for offset, e in enumerate(events):
        try:
            r = record_for_event(e)
        except (ContractError, UnknownEventType):
            topic = ".".join(e.type.split(".")[:2])
            out.append(consumer_record(topic, e.to_json_bytes(), offset))
            continue
        out.append(consumer_record(r.topic, r.value, offset, r.key, r.headers))
    return out


@pytest.fixture(scope="session")
async def runtime(settings: AnalyticsSettings) -> AsyncIterator[ServiceRuntime]:
    rt = ServiceRuntime.create(settings, models)
    yield rt
    await rt.dispose()


@pytest.fixture
def dead_letters() -> DeadLetters:
    return DeadLetters()


Feed = Callable[..., Awaitable[None]]


@pytest.fixture
def feed(runtime: ServiceRuntime, dead_letters: DeadLetters) -> Feed:
    """Feeds events to the metrics consumer in batches of ``batch`` records."""
    consumer = metrics_consumer(runtime, dead_letters)

    async def do(events: Sequence[CloudEvent], batch: int = 500) -> None:
        records = records_of(events)
        for i in range(0, len(records), batch):
            await consumer.process(records[i : i + batch])

    return do


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(Path(str(item.fspath))):
            item.add_marker(pytest.mark.integration)
