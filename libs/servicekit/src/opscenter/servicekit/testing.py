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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

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
        subprocess.run([str(STACK), command, self.instance], check=True)  # noqa: S603


def _from_env() -> LocalStack | None:
    bootstrap = os.environ.get("OPSCENTER_KAFKA_BOOTSTRAP")
    url = os.environ.get("OPSCENTER_DATABASE_URL")
    admin = os.environ.get("OPSCENTER_PG_ADMIN_DSN")
    if bootstrap and url and admin:
        return LocalStack(bootstrap, url, admin, os.environ.get("OPSCENTER_STACK_INSTANCE", "test"))
    return None


def _start_test_stack() -> LocalStack:
    subprocess.run([str(STACK), "up", "test"], check=True)  # noqa: S603 (our own script)
    out = subprocess.run(  # noqa: S603 (our own script)
        [str(STACK), "env", "test"], check=True, capture_output=True, text=True
    )
    env = dict(re.findall(r"export (\w+)=(\S+)", out.stdout))
    for name, value in env.items():
        os.environ[name] = value.strip("'\"")
    stack = _from_env()
    if stack is None:
        raise RuntimeError(f"stack.sh env test printed no addresses:\n{out.stdout}")
    return stack


@pytest.fixture(scope="session")
def local_stack() -> LocalStack:
    return _from_env() or _start_test_stack()


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
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(stack.pg_admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[CloudEvent] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    event = CloudEvent.from_json_bytes(record.value)
                    if where(event):
                        found.append(event)
    finally:
        await consumer.stop()
    return found


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
