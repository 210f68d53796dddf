"""The pool: a fixed size, connections the server closed replaced without a ping round trip per
checkout, and the configured server settings on every connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from opscenter.servicekit.db import asyncpg_dsn, create_engine
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import LocalStack, create_database, drop_database

pytestmark = pytest.mark.integration

EngineFactory = Callable[..., AsyncEngine]


@pytest.fixture
async def database(local_stack: LocalStack) -> AsyncIterator[str]:
    url = await create_database(local_stack, "pool")
    try:
        yield url
    finally:
        await drop_database(local_stack, url)


@pytest.fixture
async def engine_for(database: str) -> AsyncIterator[EngineFactory]:
    """Engines on the test database, built from settings and disposed of at the end."""
    engines: list[AsyncEngine] = []

    def make(**settings: Any) -> AsyncEngine:
        engines.append(create_engine(ServiceSettings(database_url=database, **settings)))
        return engines[-1]

    try:
        yield make
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.fixture
async def admin(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        yield conn
    finally:
        await conn.close()


async def _backend_pids(database: str, admin: asyncpg.Connection) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        database.rsplit("/", 1)[1],
    )
    return [r["pid"] for r in rows]


async def _on_a_connection(engine: AsyncEngine, sql: str, hold_s: float) -> Any:
    """``sql``'s value on a pooled connection held for ``hold_s`` first (so concurrent calls
    check out several connections)."""
    async with engine.connect() as conn:
        await asyncio.sleep(hold_s)
        return (await conn.execute(text(sql))).scalar_one()


async def test_connections_the_server_closed_are_replaced_before_use(
    database: str, engine_for: EngineFactory, admin: asyncpg.Connection
):
    engine = engine_for(db_pool_size=2)

    async def backend_pids() -> set[int]:
        pid = "SELECT pg_backend_pid()"
        return set(await asyncio.gather(*(_on_a_connection(engine, pid, 0.05) for _ in "ab")))

    before = await backend_pids()
    assert len(before) == 2
    assert set(await _backend_pids(database, admin)) == before

    # The server ends both pooled connections (as a restart or an idle timeout would).
    await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", list(before))
    deadline = time.monotonic() + 10
    while await _backend_pids(database, admin) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # the client's event loop reads the closed sockets

    after = await backend_pids()
    assert len(after) == 2
    assert after.isdisjoint(before)


async def test_the_pool_does_not_grow_past_its_size(
    database: str, engine_for: EngineFactory, admin: asyncpg.Connection
):
    """A burst waits for pooled connections instead of opening (and then closing) extra ones."""
    engine = engine_for(db_pool_size=3)
    burst = [_on_a_connection(engine, "SELECT pg_backend_pid()", 0.01) for _ in range(30)]
    assert len(set(await asyncio.gather(*burst))) == 3
    assert len(await _backend_pids(database, admin)) == 3


async def test_every_connection_uses_the_configured_plan_cache_mode(engine_for: EngineFactory):
    engine = engine_for(db_pool_size=2, db_plan_cache_mode="force_generic_plan")
    modes = [_on_a_connection(engine, "SHOW plan_cache_mode", 0.01) for _ in "ab"]
    assert await asyncio.gather(*modes) == ["force_generic_plan"] * 2
