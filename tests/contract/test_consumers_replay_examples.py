"""Every consumer of every service accepts the contract example of every event on its topics.

The examples are what a producer may legitimately send (libs/contracts/schemas/examples); a
consumer that dead-letters one of them has drifted from the contract. Each consumer is replayed
against its service's real, migrated database.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

from opscenter.contracts import all_payload_classes, example_event
from opscenter.servicekit.kafka import create_broker
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import (
    LocalStack,
    consumer_record,
    drop_database,
    migrated_database,
)

# Services join this list as they gain consumers (analytics and reviews have none yet).
SERVICES = ["catalog", "installer", "hooks"]


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
        await consumer.process(records)  # a redelivery changes nothing and dead-letters nothing
        assert sink.dead == [], f"{consumer.name} dead-lettered contract examples: {sink.dead}"
        replayed += len(examples)
    assert replayed > 0
    print(f"{service}: replayed {replayed} contract examples")
