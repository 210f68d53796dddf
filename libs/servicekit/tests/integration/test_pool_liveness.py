"""The pool: a fixed size, connections the server closed replaced without a ping round trip per
checkout, and the configured server settings on every connection."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from sqlalchemy import text

from opscenter.servicekit.db import asyncpg_dsn, create_engine
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import LocalStack, create_database, drop_database

pytestmark = pytest.mark.integration


async def _backend_pids(engine_url: str, admin: asyncpg.Connection) -> list[int]:
    database = engine_url.rsplit("/", 1)[1]
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        database,
    )
    return [r["pid"] for r in rows]


async def test_connections_the_server_closed_are_replaced_before_use(local_stack: LocalStack):
    url = await create_database(local_stack, "pool")
    engine = create_engine(ServiceSettings(database_url=url, db_pool_size=2))
    admin = await asyncpg.connect(asyncpg_dsn(url))
    try:

        async def backend_pid() -> int:
            async with engine.connect() as conn:
                await asyncio.sleep(0.05)  # both checkouts overlap: two pooled connections
                return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()

        before = set(await asyncio.gather(backend_pid(), backend_pid()))
        assert len(before) == 2
        assert set(await _backend_pids(url, admin)) == before

        # The server ends both pooled connections (as a restart or an idle timeout would).
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", list(before)
        )
        deadline = time.monotonic() + 10
        while await _backend_pids(url, admin) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # the client's event loop reads the closed sockets

        after = set(await asyncio.gather(backend_pid(), backend_pid()))
        assert len(after) == 2
        assert after.isdisjoint(before)
    finally:
        await admin.close()
        await engine.dispose()
        await drop_database(local_stack, url)


async def test_the_pool_does_not_grow_past_its_size(local_stack: LocalStack):
    """A burst waits for pooled connections instead of opening (and then closing) extra ones."""
    url = await create_database(local_stack, "pool")
    engine = create_engine(ServiceSettings(database_url=url, db_pool_size=3))
    admin = await asyncpg.connect(asyncpg_dsn(url))
    try:

        async def query() -> int:
            async with engine.connect() as conn:
                await asyncio.sleep(0.01)
                return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()

        pids = await asyncio.gather(*(query() for _ in range(30)))
        assert len(set(pids)) == 3
        assert len(await _backend_pids(url, admin)) == 3
    finally:
        await admin.close()
        await engine.dispose()
        await drop_database(local_stack, url)


async def test_every_connection_uses_the_configured_plan_cache_mode(local_stack: LocalStack):
    url = await create_database(local_stack, "pool")
    settings = ServiceSettings(
        database_url=url, db_pool_size=2, db_plan_cache_mode="force_generic_plan"
    )
    engine = create_engine(settings)
    try:

        async def mode() -> str:
            async with engine.connect() as conn:
                await asyncio.sleep(0.01)
                return (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one()

        assert await asyncio.gather(mode(), mode()) == ["force_generic_plan"] * 2
    finally:
        await engine.dispose()
        await drop_database(local_stack, url)
