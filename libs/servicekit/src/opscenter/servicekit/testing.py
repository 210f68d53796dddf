"""Pytest fixtures for tests that need the real Postgres and Kafka.

The test command (`make test`) brings up the `test` instance of the local stack and exports its
addresses. When a test is run on its own without them, the fixture starts the same instance
itself: a test never skips because a server is missing.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from opscenter.contracts import CloudEvent
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.migrations import alembic_config
from opscenter.servicekit.relay import OutboxRelay

REPO_ROOT = Path(__file__).resolve().parents[5]
STACK = REPO_ROOT / "deploy" / "local" / "stack.sh"


@dataclass(frozen=True)
class LocalStack:
    kafka_bootstrap: str
    database_url: str  # SQLAlchemy URL of the shared `opscenter` database
    pg_admin_dsn: str  # libpq DSN with the right to create databases
    instance: str = "test"

    def database_url_for(self, name: str) -> str:
        return re.sub(r"/[^/]+$", f"/{name}", self.database_url)

    def control(self, command: str) -> None:
        """Runs a stack.sh command (kill-kafka, start-kafka, kill-postgres, ...) on this
        instance, for fault tests."""
        subprocess.run([str(STACK), command, self.instance], check=True)


def _from_env() -> LocalStack | None:
    bootstrap = os.environ.get("OPSCENTER_KAFKA_BOOTSTRAP")
    url = os.environ.get("OPSCENTER_DATABASE_URL")
    admin = os.environ.get("OPSCENTER_PG_ADMIN_DSN")
    if bootstrap and url and admin:
        return LocalStack(bootstrap, url, admin, os.environ.get("OPSCENTER_STACK_INSTANCE", "test"))
    return None


def _start_test_stack() -> LocalStack:
    subprocess.run([str(STACK), "up", "test"], check=True)
    out = subprocess.run([str(STACK), "env", "test"], check=True, capture_output=True, text=True)
    env = dict(re.findall(r"export (\w+)=(\S+)", out.stdout))
    for name, value in env.items():
        os.environ[name] = value.strip("'\"")
    stack = _from_env()
    if stack is None:
        raise RuntimeError(f"stack.sh env test printed no addresses:\n{out.stdout}")
    return stack


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def _start_containers() -> LocalStack:
    """The same Kafka (apache/kafka 4.1.1, KRaft) and Postgres 15 as docker-compose.yml, in
    throwaway containers; stopped when the test process exits."""
    import atexit
    import socket

    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        kafka_port = probe.getsockname()[1]
    kafka = (
        DockerContainer("apache/kafka:4.1.1")
        .with_bind_ports(9092, kafka_port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{kafka_port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        )
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_NUM_PARTITIONS", "6")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
    )
    postgres = PostgresContainer(
        "postgres:15",
        username="opscenter",
        password="opscenter",
        dbname="opscenter",
        driver=None,
    )
    kafka.start()
    postgres.start()
    atexit.register(kafka.stop)
    atexit.register(postgres.stop)
    wait_for_logs(kafka, "Kafka Server started", timeout=120)
    dsn = postgres.get_connection_url()

    async def prepare() -> None:
        conn = await asyncpg.connect(dsn.replace("/opscenter", "/template1"))
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        finally:
            await conn.close()

    asyncio.run(prepare())
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    stack = LocalStack(f"127.0.0.1:{kafka_port}", url, dsn.rsplit("/", 1)[0] + "/postgres")
    os.environ["OPSCENTER_KAFKA_BOOTSTRAP"] = stack.kafka_bootstrap
    os.environ["OPSCENTER_DATABASE_URL"] = stack.database_url
    os.environ["OPSCENTER_PG_ADMIN_DSN"] = stack.pg_admin_dsn
    return stack


@pytest.fixture(scope="session")
def local_stack() -> LocalStack:
    """Addresses given by the test command; else containers where a Docker engine answers;
    else the local `test` instance, started here."""
    found = _from_env()
    if found:
        return found
    if _docker_engine_answers():
        return _start_containers()
    return _start_test_stack()


async def create_database(stack: LocalStack, prefix: str) -> str:
    """A new empty database with a unique name; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(stack.pg_admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return stack.database_url_for(name)


async def drop_database(stack: LocalStack, url: str) -> None:
    """Drops a test database, closing its connections. An autovacuum worker that happens to be
    on it belongs to the bootstrap superuser, whom the test role may not terminate: FORCE then
    fails (InsufficientPrivilegeError) until the worker is done, so the drop is tried again."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(stack.pg_admin_dsn)
    try:
        for attempt in range(20):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.exceptions.InsufficientPrivilegeError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.25)
    finally:
        await conn.close()


@pytest.fixture
async def scratch_database(local_stack: LocalStack) -> AsyncIterator[str]:
    url = await create_database(local_stack, "scratch")
    yield url
    await drop_database(local_stack, url)


async def migrate(service: str, url: str) -> None:
    """`alembic upgrade head` for one service's history (in a thread: env.py runs its own loop)."""
    from alembic import command

    await asyncio.to_thread(command.upgrade, alembic_config(service, url), "head")


async def migrated_database(stack: LocalStack, service: str) -> str:
    url = await create_database(stack, service)
    await migrate(service, url)
    return url


@asynccontextmanager
async def running_relay(database_url: str, bootstrap: str) -> AsyncIterator[OutboxRelay]:
    """An outbox relay for one service database, running in-process while the block runs."""
    stop = asyncio.Event()
    relay = OutboxRelay(asyncpg_dsn(database_url), bootstrap, poll_interval_s=0.2)
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await task


async def collect_records(
    bootstrap: str,
    topic: str,
    *,
    where: Callable[[ConsumerRecord[bytes, bytes]], bool] = lambda _: True,
    count: int = 1,
    timeout_s: float = 20.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Reads `topic` from the beginning until `count` records match `where` (or time runs
    out: then returns what matched). The records as Kafka holds them: key, headers and value
    bytes, for tests of what crosses the broker."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                found += [r for r in records if where(r)]
    finally:
        await consumer.stop()
    return found


async def collect_events(
    bootstrap: str,
    topic: str,
    *,
    where: Callable[[CloudEvent], bool] = lambda _: True,
    count: int = 1,
    timeout_s: float = 20.0,
) -> list[CloudEvent]:
    """Reads `topic` from the beginning until `count` events match `where` (or time runs out:
    then returns what matched, so the test's assertion says what was missing)."""
    records = await collect_records(
        bootstrap,
        topic,
        where=lambda r: r.value is not None and where(CloudEvent.from_json_bytes(r.value)),
        count=count,
        timeout_s=timeout_s,
    )
    return [CloudEvent.from_json_bytes(r.value) for r in records if r.value is not None]


def start_relay_process(
    database_url: str, bootstrap: str, *, batch_size: int = 50
) -> subprocess.Popen[bytes]:
    """The generic outbox relay as a separate OS process, so a test can SIGKILL it."""
    env = {
        **os.environ,
        "OPSCENTER_DATABASE_URL": database_url,
        "OPSCENTER_KAFKA_BOOTSTRAP": bootstrap,
        "OPSCENTER_OUTBOX_BATCH_SIZE": str(batch_size),
        "OPSCENTER_SERVICE_NAME": "relay-under-test",
        "OPSCENTER_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "opscenter.servicekit.relay"], env=env)


def consumer_record(
    topic: str,
    value: bytes,
    offset: int = 0,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> ConsumerRecord[bytes | None, bytes]:
    """A Kafka record as a consumer receives it, for feeding `EventConsumer.process` directly."""
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=tuple(headers),
    )


def bearer(**claims: Any) -> dict[str, str]:
    """An Authorization header with a local dev token (``mint_dev_token``'s claims), as the
    suite's services accept it."""
    from opscenter.servicekit.auth import mint_dev_token
    from opscenter.servicekit.settings import ServiceSettings

    return {"Authorization": f"Bearer {mint_dev_token(ServiceSettings(), **claims)}"}


async def start_groups_at_end(bootstrap: str, groups: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Commits each new consumer group at its topics' current end, so a test's consumers read
    only what the test sends (earlier runs' events on the shared test broker are not theirs)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for group, topics in groups:
            described = await admin.describe_topics(list(topics))
            parts = [
                TopicPartition(d["topic"], p["partition"])
                for d in described
                for p in d["partitions"]
            ]
            consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
            )
            await consumer.start()
            try:
                consumer.assign(parts)
                ends = await consumer.end_offsets(parts)
                await consumer.commit(dict(ends))
            finally:
                await consumer.stop()
    finally:
        await admin.close()
