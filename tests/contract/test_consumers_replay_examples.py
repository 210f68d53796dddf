"""Every consumer of every service accepts the contract example of every event on its topics.

The examples are what a producer may legitimately send (libs/contracts/schemas/examples); a
consumer that dead-letters one of them has drifted from the contract. Each consumer is replayed
against its service's real, migrated database, then replayed again: the redelivery must
change no row of any of the service's tables (the inbox makes every effect happen once).
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from opscenter.contracts import all_payload_classes, example_event
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.kafka import create_broker
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import (
    LocalStack,
    consumer_record,
    drop_database,
    migrated_database,
)

# Every service with consumers replays every contract example.
SERVICES = ["catalog", "installer", "hooks", "analytics", "reviews"]


class RecordingSink:
    def __init__(self) -> None:
        self.dead: list[dict[str, str]] = []

    async def __call__(
        self, topic: str, value: bytes, key: bytes | None, headers: dict[str, str]
    ) -> None:
        self.dead.append(headers)


@pytest.fixture(params=SERVICES)
async def service_runtime(
    request: pytest.FixtureRequest, local_stack: LocalStack
) -> AsyncIterator[tuple[str, ServiceRuntime]]:
    service = request.param
    settings_module = importlib.import_module(f"opscenter.{service}.settings")
    settings_cls = next(
        v
        for k, v in vars(settings_module).items()
        if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings
    )
    models = importlib.import_module(f"opscenter.{service}.models")
    url = await migrated_database(local_stack, service)
    overrides: dict[str, Any] = {
        "database_url": url,
        "kafka_bootstrap": local_stack.kafka_bootstrap,
        "log_json": False,
    }
    for field in ("install_root", "artifact_root"):
        if field in settings_cls.model_fields:
            overrides[field] = tempfile.mkdtemp(prefix=f"{service}-replay-")
    runtime = ServiceRuntime.create(settings_cls(**overrides), models)
    yield service, runtime
    await runtime.dispose()
    await drop_database(local_stack, url)


async def test_every_consumer_accepts_every_example_on_its_topics(service_runtime):
    service, runtime = service_runtime
    worker = importlib.import_module(f"opscenter.{service}.worker")
    broker = create_broker(runtime.settings)
    replayed = 0
    for consumer in worker.consumers(runtime, broker):
        sink = RecordingSink()
        consumer.dead_letter = sink
        consumer.retry_backoff_s = 0.0
        examples = [c for c in all_payload_classes() if c.topic.name in consumer.topics]
        assert examples, f"{consumer.name} consumes topics without contract events"
        records = [
            consumer_record(cls.topic.name, example_event(cls).to_json_bytes(), offset)
            for offset, cls in enumerate(examples)
        ]
        await consumer.process(records)
        assert sink.dead == [], f"{consumer.name} dead-lettered contract examples: {sink.dead}"
        before = await every_row(runtime.settings.database_url)
        await consumer.process(records)  # a redelivery changes nothing and dead-letters nothing
        assert sink.dead == [], f"{consumer.name} dead-lettered a redelivery: {sink.dead}"
        after = await every_row(runtime.settings.database_url)
        changed = sorted(t for t in before if before[t] != after.get(t))
        assert not changed, f"{consumer.name}: a redelivery changed rows of {changed}"
        replayed += len(examples)
    assert replayed > 0
    print(f"{service}: replayed {replayed} contract examples")


async def every_row(database_url: str) -> dict[str, list[str]]:
    """Every row of every table of the database, as JSON text, in a stable order per table."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        return {
            t["tablename"]: [
                r[0]
                for r in await conn.fetch(
                    f'SELECT row_to_json(t)::text FROM "{t["tablename"]}" t ORDER BY 1'  # noqa: S608
                )
            ]
            for t in tables
        }
    finally:
        await conn.close()
