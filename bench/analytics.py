"""Analytics benchmarks, each printed beside a baseline measured in the same run.

    STACK_PORT_OFFSET=... deploy/local/stack.sh up dev
    eval "$(deploy/local/stack.sh env dev)"; uv run python bench/analytics.py

The first line is a calibration: a fixed pure-Python loop's time, so runs on machines of other
speeds can be compared.

1. Ingest: N contract events (hook deliveries, downloads, installation transitions, charges,
   over 1,000 plugins and 24 hours) produced to a fresh 6-partition topic, then consumed by the
   analytics's metrics consumer exactly as the worker runs it (servicekit's batch subscriber:
   envelope and payload validation, inbox claim of the batch, one set-based upsert per table,
   offsets committed after the transaction; envelope and payload validated in one pass,
   ``typed_payloads``), on a freshly migrated database; with ``--usual-parse-too`` once more
   with the two-pass parsing (envelope, then payload) as the same-run "before". Baseline: a bare
   aiokafka consumer group reading the same topic with the same max_records and committing after
   each batch, without parsing or a database. Rate = events / (last batch done - first batch
   started). Aim: >= 20,000 events/s and >= 30% of the baseline.
2. Query: a 365-day daily series (every metric) for one plugin through the API under uvicorn,
   with 10,000 plugins' daily counters (and 1,000 plugins' latency sketches, revenue and
   ratings) for the year present. Sequential requests; p50/p99. Baseline: the bare asyncpg read
   of the same plugin's year of day rows (the least any answer must read). Aim: p99 <= 50 ms.
   With ``--before-src DIR`` the API of another source tree (the "before") answers too, on the
   same data, its requests alternating with this tree's, so both meet the same host load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from http_load import free_port, wait_ready

from opscenter.analytics import models, sketch_sql
from opscenter.analytics.buckets import floor
from opscenter.analytics.ingest.handlers import HANDLED_TYPES, on_events
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.analytics.testing import PluginEvents
from opscenter.contracts import CloudEvent, Topic, record_for_event
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.consumer import subscribe
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.kafka import create_broker, ensure_topics
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import LocalStack, create_database, drop_database, migrate

NOW = datetime.now(UTC)
START = floor(NOW, "day") - timedelta(days=1)


def calibration() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i % 7
    return time.perf_counter() - started


def _events(n: int, plugins: int) -> list[CloudEvent]:
    rng = random.Random(2026)
    subjects = [PluginEvents(f"pub-bench-{i % 97}") for i in range(plugins)]
    out: list[CloudEvent] = [p.registered(START) for p in subjects]
    while len(out) < n:
        p = rng.choice(subjects)
        at = START + timedelta(seconds=rng.randrange(86_400))
        roll = rng.random()
        if roll < 0.6:
            outcome = "succeeded" if roll < 0.55 else "failed"
            out.append(p.delivery(at, int(rng.lognormvariate(4.0, 1.0)), outcome))
        elif roll < 0.85:
            out.append(p.downloaded(at))
        elif roll < 0.95:
            out.append(p.installed(at, uuid.uuid4()))
        else:
            out.append(p.charged(at, Decimal(rng.randint(100, 9_999)) / 100))
    return out[:n]


async def _produce(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        pending = []
        for e in events:
            r = record_for_event(e)
            pending.append(await producer.send(topic, r.value, key=r.key, headers=r.headers))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def bare_consumer(bootstrap: str, topic: str, n: int, max_records: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench.bare-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    seen, first = 0, 0.0
    try:
        while seen < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
            got = sum(len(records) for records in batches.values())
            if got and not first:
                first = time.perf_counter()
            seen += got
            if got:
                await consumer.commit()
        return n / (time.perf_counter() - first)
    finally:
        await consumer.stop()


async def analytics_consumer(
    stack: LocalStack, topic: str, n: int, max_records: int, *, typed_payloads: bool = True
) -> float:
    url = await create_database(stack, "analytics_bench")
    await migrate("analytics", url)
    settings = AnalyticsSettings(
        database_url=url,
        kafka_bootstrap=stack.kafka_bootstrap,
        service_name=f"analytics-bench-{uuid.uuid4().hex[:6]}",
        log_level="WARNING",
        log_json=False,
    )
    runtime = ServiceRuntime.create(settings, models)
    broker = create_broker(settings)
    consumer = runtime.consumer(
        broker,
        "metrics",
        [topic],
        batch_handler=on_events,
        types=HANDLED_TYPES,
        typed_payloads=typed_payloads,
    )
    seen, first, last = 0, 0.0, 0.0
    done = asyncio.Event()
    process = consumer.process

    async def timed(records):  # type: ignore[no-untyped-def]
        nonlocal seen, first, last
        if not first:
            first = time.perf_counter()
        await process(records)
        seen += len(records)
        last = time.perf_counter()
        if seen >= n:
            done.set()

    consumer.process = timed  # type: ignore[method-assign]
    subscribe(broker, consumer, max_records=max_records)
    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=600)
    finally:
        await broker.stop()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        ledger = await conn.fetchval("SELECT count(*) FROM inbox")
        counted = await conn.fetchval(
            "SELECT sum(downloads + deliveries + installs) + (SELECT sum(charges) FROM revenue"
            " WHERE grain = 'hour') FROM metric_counts WHERE grain = 'hour'"
        )
    finally:
        await conn.close()
    await runtime.dispose()
    await drop_database(stack, url)
    print(f"  ledger entries {ledger}, events counted {counted} (registrations not counted)")
    return n / (last - first)


async def bench_ingest(stack: LocalStack, n: int, max_records: int, usual_too: bool) -> None:
    topic = Topic(f"bench.analytics.{uuid.uuid4().hex[:8]}", key="plugin id", partitions=6)
    await ensure_topics(stack.kafka_bootstrap, [topic])
    await _produce(stack.kafka_bootstrap, topic.name, _events(n, plugins=1000))
    # As the worker does after its imports (servicekit.process, ADR 0009): what exists now is
    # never garbage, and full collections would walk it again on every batch.
    gc.collect()
    gc.freeze()
    bare = await bare_consumer(stack.kafka_bootstrap, topic.name, n, max_records)
    ours = await analytics_consumer(stack, topic.name, n, max_records)
    usual = (
        await analytics_consumer(stack, topic.name, n, max_records, typed_payloads=False)
        if usual_too
        else None
    )
    print(f"ingest, {n} events, max_records {max_records}:")
    print(f"  {'baseline: bare aiokafka consumer':40s} {bare:10.0f} events/s")
    if usual is not None:
        print(f"  {'analytics consumer, two-pass parsing':40s} {usual:10.0f} events/s")
    print(f"  {'analytics metrics consumer':40s} {ours:10.0f} events/s")
    print(f"  {'ratio analytics / baseline':40s} {ours / bare:10.2f}   (aims: >= 20000/s, >= 0.30)")


async def _populate_year(conn: asyncpg.Connection, target: uuid.UUID, plugins: int) -> None:
    """Day rows for a year: counters for ``plugins`` plugins; sketches, revenue and ratings
    for a tenth of them; the target plugin with a wide latency spread (40 buckets a day)."""
    first_day = floor(NOW, "day") - timedelta(days=365)
    ids = [target, *(uuid.uuid4() for _ in range(plugins - 1))]
    await conn.execute(
        "INSERT INTO plugin_directory (plugin_id, slug, publisher_id)"
        " SELECT id, 'p-' || left(id::text, 12), 'pub-bench' FROM unnest($1::uuid[]) id",
        ids,
    )
    await conn.execute(
        "INSERT INTO metric_counts (plugin_id, grain, bucket_start, version, installs,"
        " uninstalls, enables, disables, downloads, deliveries, failures, dead_letters,"
        " active_delta)"
        " SELECT id, 'day', $2::timestamptz + d * interval '1 day', '1.0.0', 5, 1, 4, 1, 20,"
        " 300, 3, 1, 4 FROM unnest($1::uuid[]) id, generate_series(0, 364) d",
        ids,
        first_day,
    )
    some = ids[: max(1, plugins // 10)]
    await conn.execute(
        "INSERT INTO latency_buckets (plugin_id, grain, bucket_start, sketch_index, count)"
        " SELECT id, 'day', $2::timestamptz + d * interval '1 day', 200 + k * 7, 30"
        " FROM unnest($1::uuid[]) id, generate_series(0, 364) d, generate_series(0, 9) k"
        " WHERE id <> $3",
        some,
        first_day,
        target,
    )
    await conn.execute(
        "INSERT INTO latency_buckets (plugin_id, grain, bucket_start, sketch_index, count)"
        " SELECT $1, 'day', $2::timestamptz + d * interval '1 day', 150 + k * 3, 10 + k"
        " FROM generate_series(0, 364) d, generate_series(0, 39) k",
        target,
        first_day,
    )
    await conn.execute(
        "INSERT INTO revenue (plugin_id, grain, bucket_start, currency, gross, developer,"
        " platform, charges) SELECT id, 'day', $2::timestamptz + d * interval '1 day', 'USD',"
        " 99.90, 69.93, 29.97, 10 FROM unnest($1::uuid[]) id, generate_series(0, 364) d",
        some,
        first_day,
    )
    await conn.execute(
        "INSERT INTO ratings (plugin_id, grain, bucket_start, as_of, average, count)"
        " SELECT id, 'day', $2::timestamptz + d * interval '1 day',"
        " $2::timestamptz + d * interval '1 day' + interval '12 hours', 4.2, d"
        " FROM unnest($1::uuid[]) id, generate_series(0, 364) d",
        some,
        first_day,
    )
    # What the roll-up stores beside each day's sketch, by the roll-up's own statement.
    await conn.execute(sketch_sql.DAY_RANGE, first_day, floor(NOW, "day"))
    # The month sketches the roll-up keeps beside them: each the sum of its month's day rows.
    await conn.execute(
        "INSERT INTO latency_months (plugin_id, month_start, sketch_index, count)"
        " SELECT plugin_id, date_trunc('month', bucket_start, 'UTC'), sketch_index, sum(count)"
        " FROM latency_buckets WHERE grain = 'day'"
        " GROUP BY plugin_id, date_trunc('month', bucket_start, 'UTC'), sketch_index"
    )
    await conn.execute("UPDATE rollup_state SET rolled_through = $1", floor(NOW, "day"))
    await conn.execute("ANALYZE")


class _Recorder:
    """Passes a repository's statements to ``conn`` and keeps them, to explain each after."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.statements: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        method = getattr(self.conn, name)

        async def run(sql: str, *args: object):  # type: ignore[no-untyped-def]
            self.statements.append((sql, args))
            return await method(sql, *args)

        return run


async def explain_series(conn: asyncpg.Connection, target: uuid.UUID, year: dict) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement a 365-day daily series sends, as the
    service builds them (its repository, run on ``conn``)."""
    from types import SimpleNamespace

    from opscenter.analytics.metrics import repository, service

    recorder = _Recorder(conn)

    async def recording_driver(session: object) -> _Recorder:
        return recorder

    original = repository.driver
    repository.driver = recording_driver  # type: ignore[assignment]
    try:
        query = service.SeriesQuery(
            datetime.fromisoformat(year["from"]),
            datetime.fromisoformat(year["to"]),
            "day",
            None,
            None,
        )
        settings = AnalyticsSettings(database_url="postgresql+asyncpg://unused/x")
        uow = SimpleNamespace(session=None)
        viewer = service.Viewer(is_admin=True, publisher_id=None)
        async with conn.transaction():  # as the API's unit of work: SET LOCALs apply
            await service.plugin_series(uow, str(target), viewer, query, settings, NOW)  # type: ignore[arg-type]
            await explain(conn, recorder.statements)
    finally:
        repository.driver = original  # type: ignore[assignment]


async def explain(
    conn: asyncpg.Connection, statements: list[tuple[str, tuple[object, ...]]]
) -> None:
    print(f"EXPLAIN (ANALYZE, BUFFERS) of the series' {len(statements)} statements:")
    for sql, args in statements:
        plan = [r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)]
        print(f"  -- {sql[:110]}...")
        for line in plan:
            if (
                any(w in line for w in ("Scan", "Gather", "Workers Launched", "Execution Time"))
                or line is plan[0]
            ):
                print(f"     {line.strip()[:150]}")


def start_api(url: str, port: int, source: str | None = None) -> subprocess.Popen[bytes]:
    """The API as deployed: its own process under uvicorn; with ``source``, the analytics
    package from that tree (``git archive <rev> services/analytics/src | tar -x -C DIR``)."""
    env = {
        **os.environ,
        "ANALYTICS_DATABASE_URL": url,
        "ANALYTICS_HTTP_PORT": str(port),
        "ANALYTICS_LOG_LEVEL": "WARNING",
    }
    if source is not None:
        env["PYTHONPATH"] = os.path.join(source, "services", "analytics", "src")
    return subprocess.Popen(
        [sys.executable, "-c", "from opscenter.analytics.main import run; run()"], env=env
    )


async def bench_query(
    stack: LocalStack, plugins: int, requests: int, explain: bool, before: str | None
) -> None:
    url = await create_database(stack, "analytics_bench")
    await migrate("analytics", url)
    dsn = asyncpg_dsn(url)
    target = uuid.uuid4()
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    await _populate_year(conn, target, plugins)
    rows = await conn.fetchval("SELECT count(*) FROM metric_counts")
    print(
        f"query: {rows} day rows of counters for {plugins} plugins, filled in "
        f"{time.perf_counter() - started:.0f} s"
    )
    settings = AnalyticsSettings(database_url=url, kafka_bootstrap=stack.kafka_bootstrap)
    # The API under test and, with --before-src, the API of another tree on the same database;
    # requests alternate between them, so the host's load (shared, and changing by the minute)
    # falls on both alike.
    apis = {"GET /plugins/{id}/analytics": free_port()}
    if before is not None:
        apis[f"  the same, {os.path.basename(before.rstrip('/'))} code"] = free_port()
    processes = [
        start_api(url, port, before if i else None) for i, port in enumerate(apis.values())
    ]
    token = mint_dev_token(settings, roles=["platform_admin"])
    year = {
        "from": (floor(NOW, "day") - timedelta(days=365)).isoformat(),
        "to": floor(NOW, "day").isoformat(),
        "interval": "day",
    }
    if explain:
        await explain_series(conn, target, year)
    times: dict[str, list[float]] = {name: [] for name in apis}
    try:
        clients = {
            name: aiohttp.ClientSession(
                f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
            )
            for name, port in apis.items()
        }
        try:
            for client in clients.values():
                await wait_ready(client)
            for i in range(requests + 20):
                for name, client in clients.items():
                    t0 = time.perf_counter()
                    async with client.get(f"/api/v1/plugins/{target}/analytics", params=year) as r:
                        body = await r.json()
                        assert r.status == 200, body
                    if i >= 20:  # the first requests prepare statements on each connection
                        times[name].append(time.perf_counter() - t0)
                    assert len(body["series"]) == 365, len(body["series"])
        finally:
            for client in clients.values():
                await client.close()
        base: list[float] = []
        for i in range(requests + 20):
            t0 = time.perf_counter()
            await conn.fetch(
                "SELECT * FROM metric_counts WHERE plugin_id = $1 AND grain = 'day'"
                " AND bucket_start >= $2 AND bucket_start < $3",
                target,
                datetime.fromisoformat(year["from"]),
                datetime.fromisoformat(year["to"]),
            )
            if i >= 20:
                base.append(time.perf_counter() - t0)
        _report_query(requests, base, times)
    finally:
        for api in processes:
            api.terminate()
            api.wait(timeout=20)
        await conn.close()
        await _drop_after_autovacuum(stack, url)


async def _drop_after_autovacuum(stack: LocalStack, url: str) -> None:
    """``drop_database``, tried for up to a minute: an autovacuum worker analysing the freshly
    filled tables outlasts its five seconds of retries (seen on 2026-12-08, quiet host)."""
    for attempt in range(12):
        try:
            await drop_database(stack, url)
            return
        except asyncpg.exceptions.InsufficientPrivilegeError:
            if attempt == 11:
                raise
            await asyncio.sleep(5)


def _report_query(requests: int, base: list[float], times: dict[str, list[float]]) -> None:
    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000

    print(f"365-day daily series, every metric, {requests} sequential requests:")
    print(
        f"  {'baseline: bare asyncpg read of the rows':40s} p50 {pct(base, 50):7.2f} ms"
        f"  p99 {pct(base, 99):7.2f} ms"
    )
    for name, values in times.items():
        print(
            f"  {name:40s} p50 {pct(values, 50):7.2f} ms"
            f"  p99 {pct(values, 99):7.2f} ms   (aim: p99 <= 50 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--max-records", type=int, default=2000)
    parser.add_argument("--plugins", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--only", choices=["ingest", "query"], default=None)
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) the series' statements"
    )
    parser.add_argument(
        "--before-src",
        metavar="DIR",
        help="also run the API of another source tree (e.g. main's, extracted with git archive)"
        " on the same data, requests alternating with this tree's",
    )
    parser.add_argument(
        "--usual-parse-too",
        action="store_true",
        help="also measure the consumer without typed_payloads (envelope, then payload)",
    )
    args = parser.parse_args()
    print(f"calibration: fixed pure-Python loop {calibration():.3f} s")
    stack = LocalStack(
        os.environ["OPSCENTER_KAFKA_BOOTSTRAP"],
        os.environ["OPSCENTER_DATABASE_URL"],
        os.environ["OPSCENTER_PG_ADMIN_DSN"],
    )
    if args.only != "query":
        asyncio.run(bench_ingest(stack, args.events, args.max_records, args.usual_parse_too))
    if args.only != "ingest":
        asyncio.run(bench_query(stack, args.plugins, args.requests, args.explain, args.before_src))


if __name__ == "__main__":
    main()
