"""What one service process holds: its engine, sessions, outbox, inbox and idempotency store.

Built once per process from settings (never at import time) and shared by the API, the worker
and the relay entry points of a service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from faststream import FastStream
from faststream.kafka import KafkaBroker
from sqlalchemy import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from opscenter.contracts import Topic
from opscenter.servicekit.consumer import (
    BatchEventHandler,
    EventConsumer,
    EventHandler,
    broker_dead_letter,
    subscribe,
)
from opscenter.servicekit.db import create_engine, create_session_factory
from opscenter.servicekit.idempotency import IdempotencyStore
from opscenter.servicekit.inbox import Inbox
from opscenter.servicekit.kafka import create_broker, ensure_topics
from opscenter.servicekit.outbox import Outbox
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.telemetry import (
    exports_to_collector,
    instrument_engine,
    start_process_telemetry,
)
from opscenter.servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)


class MessagingTables(Protocol):
    """The servicekit tables every service's models declare (outbox, inbox, idempotency keys)."""

    outbox: Table
    inbox: Table
    idempotency_keys: Table


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    outbox: Outbox
    inbox: Inbox
    idempotency: IdempotencyStore

    @classmethod
    def create(cls, settings: ServiceSettings, tables: MessagingTables) -> ServiceRuntime:
        """`tables` is usually the service's `models` module."""
        engine = create_engine(settings)
        if exports_to_collector(settings):
            # Statement spans cost CPU on every statement; without a collector nobody reads them.
            instrument_engine(engine)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            outbox=Outbox(tables.outbox, source=f"/opscenter/{settings.service_name}"),
            inbox=Inbox(tables.inbox),
            idempotency=IdempotencyStore(tables.idempotency_keys),
        )

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.outbox)

    def consumer(
        self,
        broker: KafkaBroker,
        purpose: str,
        topics: Sequence[str],
        handler: EventHandler | None = None,
        *,
        batch_handler: BatchEventHandler | None = None,
        types: Iterable[str] | None = None,
        **options: Any,
    ) -> EventConsumer:
        """A consumer named `<service>.<purpose>` that dead-letters through `broker`; `types`
        limits it to those event types (see `EventConsumer.types`); `options` are the other
        `EventConsumer` fields (`max_bytes`, `reject`, `dedupe_key`)."""
        return EventConsumer(
            name=f"{self.settings.service_name}.{purpose}",
            topics=list(topics),
            handler=handler,
            batch_handler=batch_handler,
            sessions=self.sessions,
            inbox=self.inbox,
            dead_letter=broker_dead_letter(broker),
            max_attempts=self.settings.consumer_max_attempts,
            types=frozenset(types) if types is not None else None,
            log_events=self.settings.log_events,
            **options,
        )

    async def warm_up(self) -> None:
        """Opens the pool's connections before the first request, so a burst of requests does
        not pay for connection set-up (authentication, type introspection) on top of its
        queries. A database that is down now is not fatal: readiness reports it."""
        try:
            async with AsyncExitStack() as held:
                for _ in range(self.settings.db_pool_size):
                    await held.enter_async_context(self.engine.connect())
        except (OSError, SQLAlchemyError) as exc:
            log.warning(
                "could not open the connection pool at start-up", extra={"error": repr(exc)}
            )

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


ConsumerFactory = Callable[[ServiceRuntime, KafkaBroker], Sequence[EventConsumer]]


async def run_worker(
    runtime: ServiceRuntime, consumers: ConsumerFactory, topics: Sequence[Topic]
) -> None:
    """Runs a service's consumers until SIGTERM; creates the topics it touches first."""
    settings = runtime.settings
    start_process_telemetry(settings, "worker")
    await ensure_topics(
        settings.kafka_bootstrap, topics, replication=settings.kafka_topic_replication
    )
    broker = create_broker(settings)
    for consumer in consumers(runtime, broker):
        subscribe(broker, consumer, max_records=settings.consumer_batch_size)
    app = FastStream(broker)

    @app.after_shutdown
    async def _dispose() -> None:
        await runtime.dispose()

    await app.run()


def run_api(app_factory: Callable[[], object], settings: ServiceSettings) -> None:
    """Serves the app built by ``app_factory`` (which reads its settings from the environment)
    under uvicorn, as ``settings.http_workers`` processes sharing the port. Idle keep-alive
    connections live ``settings.http_keep_alive_s``, longer than the gateway keeps them (it must
    close first); the server's own 400 is problem+json."""
    import uvicorn

    from opscenter.servicekit.http_server import ProblemHttpToolsProtocol

    workers = settings.http_workers
    uvicorn.run(
        # Worker processes import the factory by name (uvicorn refuses an object for them).
        app_factory if workers == 1 else f"{app_factory.__module__}:{app_factory.__qualname__}",
        factory=True,
        workers=workers,
        host=settings.http_host,
        port=settings.http_port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_config=None,
        access_log=False,
        http=ProblemHttpToolsProtocol,
        timeout_keep_alive=settings.http_keep_alive_s,
    )
