"""The worker process on the real Kafka: SIGKILLed while it applies batches, restarted, and
every count equals the events sent; the same events sent again change no number."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from opscenter.analytics.buckets import floor
from opscenter.analytics.testing import PluginEvents
from opscenter.analytics.worker import METRIC_TOPICS
from opscenter.contracts import ALL_TOPICS, CloudEvent, Topic, record_for_event
from opscenter.contracts.topics import topic_by_name
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.kafka import ensure_topics
from opscenter.servicekit.testing import LocalStack, drop_database, migrated_database

PLUGINS = 4
PER_PLUGIN = 3000  # downloads, installs and deliveries in equal parts
HOUR = floor(datetime.now(UTC), "hour") - timedelta(hours=5)


def _events(plugins: list[PluginEvents]) -> list[CloudEvent]:
    out: list[CloudEvent] = []
    for p in plugins:
        out.append(p.registered(HOUR))
        for i in range(PER_PLUGIN // 3):
            at = HOUR + timedelta(seconds=i)
            out += [p.downloaded(at), p.installed(at, uuid.uuid4()), p.delivery(at, 5 + i % 400)]
    return out


async def _produce(bootstrap: str, prefix: str, events: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for e in events:
            r = record_for_event(e)
            topic = prefix + r.topic
            futures.append(await producer.send(topic, r.value, key=r.key, headers=r.headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _start_worker(
    db_url: str, bootstrap: str, service_name: str, prefix: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ANALYTICS_DATABASE_URL": db_url,
        "ANALYTICS_KAFKA_BOOTSTRAP": bootstrap,
        "ANALYTICS_SERVICE_NAME": service_name,
        "ANALYTICS_TOPIC_PREFIX": prefix,
        "ANALYTICS_CONSUMER_BATCH_SIZE": "300",
        "ANALYTICS_LOG_LEVEL": "WARNING",
        "ANALYTICS_MAINTENANCE_INTERVAL_S": "3600",
    }
    return subprocess.Popen([sys.executable, "-m", "opscenter.analytics.worker"], env=env)


async def _totals(dsn: str, plugins: list[PluginEvents]) -> dict[str, tuple[int, int, int, int]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT plugin_id, sum(downloads)::bigint, sum(installs)::bigint,"
            " sum(deliveries)::bigint, sum(active_delta)::bigint FROM metric_counts"
            " WHERE grain = 'hour' AND plugin_id = ANY($1::uuid[]) GROUP BY plugin_id",
            [p.plugin_id for p in plugins],
        )
    finally:
        await conn.close()
    return {str(r[0]): tuple(r[1:]) for r in rows}  # type: ignore[misc]


async def _caught_up(bootstrap: str, group: str, prefix: str) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(prefix + t, p)
            for t in METRIC_TOPICS
            for p in range(topic_by_name(t).partitions)
        ]
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            if (await consumer.committed(tp) or 0) < ends[tp]:
                return False
        return True
    finally:
        await consumer.stop()


async def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_counts_equal_the_events_sent_after_a_sigkill_mid_batch(local_stack: LocalStack):
    bootstrap = local_stack.kafka_bootstrap
    # Topics of this run's own: thousands of events on the shared topics would be read by
    # every other test's consumer that starts from the earliest offset.
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    await ensure_topics(
        bootstrap,
        [Topic(prefix + t.name, key=t.key, partitions=t.partitions) for t in ALL_TOPICS],
    )
    url = await migrated_database(local_stack, "analytics")
    dsn = asyncpg_dsn(url)
    service_name = f"analytics-kill-{uuid.uuid4().hex[:8]}"
    group = f"{service_name}.metrics"
    plugins = [PluginEvents("pub-kill") for _ in range(PLUGINS)]
    events = _events(plugins)
    expected = {str(p.plugin_id): (1000, 1000, 1000, 1000) for p in plugins}
    worker = _start_worker(url, bootstrap, service_name, prefix)
    try:
        await _produce(bootstrap, prefix, events)

        async def some_applied() -> bool:
            totals = await _totals(dsn, plugins)
            return sum(sum(v) for v in totals.values()) > 0

        await _wait(some_applied, 120, "the first batches")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        partial = await _totals(dsn, plugins)
        assert partial != expected, "the worker finished before it was killed; kill sooner"

        worker = _start_worker(url, bootstrap, service_name, prefix)
        await _wait(lambda: _caught_up(bootstrap, group, prefix), 180, "the restarted worker")
        assert await _totals(dsn, plugins) == expected

        await _produce(bootstrap, prefix, events)  # every event again, same ids: Kafka redelivers
        await _wait(lambda: _caught_up(bootstrap, group, prefix), 180, "the replay")
        assert await _totals(dsn, plugins) == expected
    finally:
        worker.kill()
        worker.wait(timeout=10)
        await drop_database(local_stack, url)
