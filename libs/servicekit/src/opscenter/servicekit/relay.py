"""The outbox relay: publishes committed outbox rows to Kafka and marks them published.

Ownership: buckets are claimed with session-level advisory locks on the relay's own connection.
A relay that dies (even by SIGKILL) loses its connection and with it every lock, at once, so a
peer takes over without waiting for a lease to expire. Relays register with a membership lock and
each keeps at most ceil(buckets / live relays) buckets, so adding a replica spreads the work.

Delivery is at least once: a relay killed after Kafka acknowledged a batch but before it marked
the rows publishes them again on restart. Consumers deduplicate with the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import zlib
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram

from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.kafka import create_producer
from opscenter.servicekit.outbox import OUTBOX_BUCKETS, OUTBOX_TABLE, notify_channel
from opscenter.servicekit.process import run_main
from opscenter.servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

PUBLISHED = Counter("outbox_published_total", "Outbox rows published to Kafka", ["table"])
REFUSED = Counter("outbox_refused_total", "Outbox rows Kafka refused for good", ["table"])
OWNED_BUCKETS = Gauge("outbox_owned_buckets", "Outbox buckets this relay owns", ["table"])
BACKLOG_COUNT_CAP = 10_000
BACKLOG = Gauge(
    "outbox_backlog",
    f"Outbox rows not yet published, all buckets (counted up to {BACKLOG_COUNT_CAP})",
    ["table"],
)
PUBLISH_DELAY = Histogram(
    "outbox_publish_delay_seconds",
    "From the row's insert to Kafka's acknowledgement of it",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

REBALANCE_EVERY_S = 2.0
PURGE_EVERY_S = 60.0
RETAIN_PUBLISHED = "1 hour"


def _lock_namespace(table: str, role: str) -> int:
    # Advisory locks are per database; the namespace keeps two tables' relays apart.
    return zlib.crc32(f"opscenter.outbox:{table}:{role}".encode()) & 0x7FFFFFFF


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        bootstrap: str,
        *,
        table: str = OUTBOX_TABLE,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        client_id: str = "outbox-relay",
    ) -> None:
        self.dsn = dsn
        self.bootstrap = bootstrap
        self.table = table
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.client_id = client_id
        self.owned: set[int] = set()
        self._bucket_ns = _lock_namespace(table, "bucket")
        self._member_ns = _lock_namespace(table, "member")
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Publishes until `stop` is set; reconnects after Postgres or Kafka failures."""
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._run_once(stop)
                backoff = 0.2
            except (
                OSError,
                TimeoutError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                KafkaError,
            ) as exc:
                # Postgres or Kafka is away: start over with a new connection and producer.
                log.warning("outbox relay lost a connection, retrying", extra={"error": repr(exc)})
            except Exception:
                log.exception("outbox relay failed, retrying")
            self.owned.clear()
            OWNED_BUCKETS.labels(self.table).set(0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 5.0)

    async def _run_once(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self.dsn)
        producer = create_producer(self.bootstrap, client_id=self.client_id)
        try:
            await producer.start()
            await conn.execute("SELECT pg_advisory_lock($1, pg_backend_pid())", self._member_ns)
            await conn.add_listener(notify_channel(self.table), self._on_notify)
            next_rebalance = 0.0
            next_purge = time.monotonic() + PURGE_EVERY_S
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_rebalance:
                    await self._rebalance(conn)
                    next_rebalance = now + REBALANCE_EVERY_S
                if now >= next_purge:
                    await self._purge(conn)
                    next_purge = now + PURGE_EVERY_S
                published = await self.publish_batch(conn, producer) if self.owned else 0
                if published < self.batch_size:
                    self._wake.clear()
                    wait = min(self.poll_interval_s, max(0.05, next_rebalance - time.monotonic()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            with contextlib.suppress(Exception):
                await producer.stop()
            # Closing the connection releases every advisory lock it held.
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _rebalance(self, conn: asyncpg.Connection) -> None:
        live = await conn.fetchval(
            # pg_locks shows every database's locks; relays of other databases are not peers.
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::oid "
            "AND objsubid = 2 AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            self._member_ns,
        )
        share = math.ceil(OUTBOX_BUCKETS / max(1, live))
        for bucket in sorted(self.owned, reverse=True)[: max(0, len(self.owned) - share)]:
            await conn.execute("SELECT pg_advisory_unlock($1, $2)", self._bucket_ns, bucket)
            self.owned.discard(bucket)
        for bucket in range(OUTBOX_BUCKETS):
            if len(self.owned) >= share:
                break
            if bucket in self.owned:
                continue
            if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", self._bucket_ns, bucket):
                self.owned.add(bucket)
        OWNED_BUCKETS.labels(self.table).set(len(self.owned))
        # Every relay of the table reports the same number; the count stops at a cap so a
        # large backlog does not make the count itself slow.
        backlog = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM {self.table} "  # noqa: S608 (identifier from code)
            "WHERE published_at IS NULL LIMIT $1) AS unpublished",
            BACKLOG_COUNT_CAP,
        )
        BACKLOG.labels(self.table).set(backlog)

    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        """Publishes up to one batch of the owned buckets' rows, in id order; returns the count."""
        rows = await conn.fetch(
            # `waited`: seconds since the insert, by the database's clock (the relay's may differ).
            "SELECT id, topic, key, value, headers, "  # noqa: S608 (identifier from code)
            "extract(epoch FROM clock_timestamp() - created_at)::float8 AS waited "
            f"FROM {self.table} "
            "WHERE published_at IS NULL AND bucket = ANY($1::smallint[]) ORDER BY id LIMIT $2",
            sorted(self.owned),
            self.batch_size,
        )
        if not rows:
            return 0
        futures = []
        sent_at = time.monotonic()
        for row in rows:
            headers = _headers(row["headers"])
            key = row["key"].encode()
            try:
                future = await producer.send(
                    row["topic"], value=row["value"], key=key, headers=headers
                )
            except KafkaError as exc:
                if exc.retriable:
                    raise
                future = await self._refused(producer, row, headers, exc)
            futures.append(future)
        await asyncio.gather(*futures)
        acked_after = time.monotonic() - sent_at
        delay = PUBLISH_DELAY.labels(self.table)
        for row in rows:
            delay.observe(row["waited"] + acked_after)
        await conn.execute(
            f"UPDATE {self.table} SET published_at = now() WHERE id = ANY($1::bigint[])",  # noqa: S608
            [row["id"] for row in rows],
        )
        PUBLISHED.labels(self.table).inc(len(rows))
        return len(rows)

    async def _refused(
        self,
        producer: AIOKafkaProducer,
        row: asyncpg.Record,
        headers: list[tuple[str, bytes]],
        error: KafkaError,
    ) -> Any:
        """A row Kafka will never take (too large, say) must not hold its bucket back forever:
        a notice naming the event and the error goes to `<topic>.dlq` instead, and the row
        counts as handled."""
        log.error(
            "outbox row refused by Kafka, dead-lettered",
            extra={"topic": row["topic"], "outbox_id": row["id"], "error": repr(error)},
        )
        REFUSED.labels(self.table).inc()
        notice = {
            "outbox_id": row["id"],
            "topic": row["topic"],
            "key": row["key"],
            "size": len(row["value"]),
            "error": f"{type(error).__name__}: {error}",
        }
        return await producer.send(
            f"{row['topic']}.dlq",
            value=json.dumps(notice).encode(),
            key=row["key"].encode(),
            headers=[*headers, ("dlq-error", notice["error"].encode()[:2000])],
        )

    async def _purge(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"DELETE FROM {self.table} WHERE published_at < now() - interval '{RETAIN_PUBLISHED}'"  # noqa: S608
        )


def _headers(raw: Any) -> list[tuple[str, bytes]]:
    if isinstance(raw, str):  # asyncpg returns jsonb as text unless a codec is set
        raw = json.loads(raw)
    return [(name, str(value).encode()) for name, value in (raw or {}).items()]


async def run_relay(settings: ServiceSettings, stop: asyncio.Event | None = None) -> None:
    """Entry point body for a service's relay process."""
    from opscenter.servicekit.process import install_signal_stop
    from opscenter.servicekit.telemetry import start_process_telemetry

    start_process_telemetry(settings, "relay")
    stop = stop or install_signal_stop()
    relay = OutboxRelay(
        asyncpg_dsn(settings.database_url),
        settings.kafka_bootstrap,
        batch_size=settings.outbox_batch_size,
        poll_interval_s=settings.outbox_poll_interval_s,
        client_id=f"{settings.service_name}.outbox-relay",
    )
    await relay.run(stop)


def main() -> None:
    run_main(run_relay(ServiceSettings()))


if __name__ == "__main__":
    main()
