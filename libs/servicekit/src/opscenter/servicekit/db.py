"""Async engine and session factory. One engine per process, built from settings."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from opscenter.servicekit.settings import ServiceSettings

#: What a loop that only needs the database back catches: SQLAlchemy's errors, sockets, and
#: asyncpg's own, which reach the caller unwrapped while Postgres restarts (a new connection
#: answered "the database system is not yet accepting connections").
DATABASE_AWAY: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def create_engine(settings: ServiceSettings) -> AsyncEngine:
    """A fixed pool of ``db_pool_size`` connections (no overflow).

    A connection opened for a burst costs the client CPU (TLS probe, authentication, type
    introspection), must prepare every statement again, and is closed when the burst ends; on
    a CPU-bound process, waiting for a pooled connection is cheaper. The liveness check on
    checkout costs no round trip (`pool_pre_ping` costs three with asyncpg: BEGIN, a ping,
    ROLLBACK): asyncpg reads its socket all the time, so a connection the server closed
    (restart, `pg_terminate_backend`, idle timeout) is already marked closed and is replaced
    before use."""
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout_s,
        connect_args={"server_settings": {"plan_cache_mode": settings.db_plan_cache_mode}},
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(
    dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    # DisconnectionError makes the pool discard this connection and check out another
    # (a fresh one if need be), up to three times, before the caller sees an error.
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the unit of work commits.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The same database as a plain libpq DSN, for the raw asyncpg connections the relay uses."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


# Every service's metadata uses this, so constraint names are predictable in migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
