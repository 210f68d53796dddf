"""A plugin's review list through the reviews service beside the same SQL straight through asyncpg.

    eval "$(deploy/local/stack.sh env dev)"; uv run python bench/reviews.py

Seeds a fresh database (migrated with the reviews' Alembic history) with one plugin holding
10,000 reviews from 2,000 tenants (some hidden, some with replies and helpful votes), then
measures list requests/s with p50/p99 latency at 32 concurrent closed-loop clients, on one
uvloop for every line:

- **raw SQL**: the very statement the service runs for a page (the plugin row with its summary
  joined to the page, built by ``reviews.repository.page_sql``, with the same arguments) through
  an asyncpg pool of 32 connections;
- **service**: the reviews API under uvicorn in a subprocess (real HTTP on 127.0.0.1), once per
  ``--workers`` count, with its pool of ``REVIEWS_DB_POOL_SIZE`` connections split between them;
  with its list cache (ADR 0016) warmed by one pass over every distinct request (the steady
  state of a read-mostly list), and, with ``--uncached``, once more with the cache off
  (``REVIEWS_LIST_CACHE_SECONDS=0``: every request runs the statement) as the same-run
  "before". Each service line counts its answers by ``x-reviews-cache`` outcome.

The work mixes the four sorts, a rating filter on one request in five and a second page (a
cursor) on one in four. First a calibration line: the time of a fixed pure-Python loop, so runs
on machines of different speed can be compared. Aim: p99 <= 30 ms and at least half the raw-SQL
throughput. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import uvloop
from http_load import free_port, wait_ready

from opscenter.reviews.reviews.cursor import decode_cursor, encode_cursor
from opscenter.reviews.reviews.repository import page_args, page_sql
from opscenter.reviews.reviews.schemas import ReviewSort
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.testing import LocalStack, create_database, drop_database, migrate

SLUG = "bench-reviewed-plugin"
LIMIT = 20


def stack() -> LocalStack:
    return LocalStack(
        os.environ["OPSCENTER_KAFKA_BOOTSTRAP"],
        os.environ["OPSCENTER_DATABASE_URL"],
        os.environ["OPSCENTER_PG_ADMIN_DSN"],
    )


def calibration() -> float:
    """Seconds of a fixed pure-Python loop (the machine's speed, for comparing runs)."""
    t0 = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i % 7
    return time.perf_counter() - t0


async def seed(dsn: str, reviews: int, tenants: int) -> uuid.UUID:
    rnd = random.Random(7)
    plugin_id = uuid.uuid4()
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        rows, hist = [], dict.fromkeys(range(1, 6), 0)
        for i in range(reviews):
            rating = rnd.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 6])[0]
            hidden = rnd.random() < 0.01
            if not hidden:
                hist[rating] += 1
            created = now - timedelta(seconds=rnd.randint(0, 400 * 86400))
            replied = rnd.random() < 0.1
            rows.append(
                (
                    uuid.uuid4(),
                    plugin_id,
                    f"tenant-{i % tenants}",
                    f"user-{i}",
                    rating,
                    f"Review {i}",
                    "A body of a few sentences about what worked and what did not. " * 3,
                    f"1.{i % 7}.0",
                    rnd.choice([0, 0, 0, 1, 2, 5, 12]),
                    hidden,
                    "spam" if hidden else None,
                    "Thanks, fixed in the next release." if replied else None,
                    "dev-bench" if replied else None,
                    created + timedelta(days=1) if replied else None,
                    created + timedelta(days=1) if replied else None,
                    created,
                    created,
                )
            )
        await conn.execute(
            "INSERT INTO plugins (plugin_id, slug, publisher_id, rating_count, rating_sum,"
            " rating_1, rating_2, rating_3, rating_4, rating_5)"
            " VALUES ($1, $2, 'pub-bench', $3, $4, $5, $6, $7, $8, $9)",
            plugin_id,
            SLUG,
            sum(hist.values()),
            sum(k * v for k, v in hist.items()),
            *(hist[k] for k in range(1, 6)),
        )
        await conn.copy_records_to_table(
            "installations",
            records=[
                (uuid.uuid4(), f"tenant-{t}", plugin_id, "1.0.0", t % 5 != 0, 2)
                for t in range(tenants)
            ],
            columns=[
                "installation_id",
                "tenant_id",
                "plugin_id",
                "version",
                "installed",
                "sequence",
            ],
        )
        await conn.copy_records_to_table(
            "reviews",
            records=rows,
            columns=[
                "id",
                "plugin_id",
                "tenant_id",
                "user_id",
                "rating",
                "title",
                "body",
                "version",
                "helpful_count",
                "hidden",
                "hidden_reason",
                "reply_body",
                "reply_author_id",
                "replied_at",
                "reply_updated_at",
                "created_at",
                "updated_at",
            ],
        )
        for table in ("plugins", "installations", "reviews"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return plugin_id


async def workload(dsn: str, n: int) -> list[dict[str, Any]]:
    """Query strings of list requests; second pages carry the cursor the first page returns."""
    rnd = random.Random(11)
    conn = await asyncpg.connect(dsn)
    out = []
    try:
        for _ in range(n):
            sort = rnd.choice(list(ReviewSort))
            q: dict[str, Any] = {"sort": sort.value}
            rating = rnd.randint(1, 5) if rnd.random() < 0.2 else None
            if rating is not None:
                q["rating"] = rating
            if rnd.random() < 0.25:
                sql = page_sql(sort, by_id=False, rating=rating is not None, after=False)
                first = await conn.fetch(sql, *page_args(SLUG, rating, False, None, LIMIT))
                q["cursor"] = encode_cursor(first[-1], sort)
            out.append(q)
    finally:
        await conn.close()
    return out


async def run_load(label: str, call, work: list, concurrency: int, duration_s: float):
    """Closed-loop clients over ``work`` for ``duration_s``; prints and returns
    (requests/s, p50 ms, p99 ms)."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + duration_s
    idx = 0

    async def worker() -> None:
        nonlocal idx
        while time.perf_counter() < stop_at:
            item = work[idx % len(work)]
            idx += 1
            t0 = time.perf_counter()
            await call(item)
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    print(
        f"{label:<40} {len(lat) / elapsed:7.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:7.1f} ms"
        f"   ({len(lat)} requests)",
        flush=True,
    )
    return len(lat) / elapsed, p50, p99


def start_service(
    url: str, kafka: str, port: int, workers: int, pool: int, cache_seconds: str | None
) -> subprocess.Popen:
    env = {
        **os.environ,
        **({"REVIEWS_LIST_CACHE_SECONDS": cache_seconds} if cache_seconds is not None else {}),
        "REVIEWS_DATABASE_URL": url,
        "REVIEWS_KAFKA_BOOTSTRAP": kafka,
        "REVIEWS_LOG_LEVEL": "WARNING",
        "REVIEWS_DB_POOL_SIZE": str(max(1, pool // workers)),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "opscenter.reviews.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        env=env,
    )


async def bench_service(
    url: str, kafka: str, workers: int, work: list, args, *, cached: bool = True
) -> tuple:
    port = free_port()
    proc = start_service(url, kafka, port, workers, args.pool, None if cached else "0")
    try:
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}",
            timeout=aiohttp.ClientTimeout(total=60),
            connector=aiohttp.TCPConnector(limit=args.concurrency),
        ) as client:
            await wait_ready(client, timeout_s=120)  # imports take a while on a busy host
            base = f"/api/v1/plugins/marketplace/{SLUG}/reviews?"
            targets = [base + urllib.parse.urlencode(q) for q in work]

            outcomes: Counter[str] = Counter()

            async def via_http(target: str) -> None:
                async with client.get(target) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{target!r} answered {r.status}")
                    outcomes[r.headers.get("x-reviews-cache", "none")] += 1

            label = f"service x{workers} (pool {args.pool}){'' if cached else ', cache off'}"
            if cached:  # one pass over every distinct request, at the same concurrency
                distinct = list(dict.fromkeys(targets))
                gate = asyncio.Semaphore(args.concurrency)

                async def once(target: str) -> None:
                    async with gate:
                        await via_http(target)

                await asyncio.gather(*(once(t) for t in distinct))
            await run_load(f"  warm-up {label}", via_http, targets, args.concurrency, 3)
            outcomes.clear()
            result = await run_load(label, via_http, targets, args.concurrency, args.duration)
            print(f"    cache outcomes: {dict(outcomes)}", flush=True)
            return result
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reviews", type=int, default=10_000)
    ap.add_argument("--tenants", type=int, default=2_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--workers", default="1,2", help="uvicorn worker counts to measure")
    ap.add_argument("--pool", type=int, default=10, help="the service's connections in all")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    ap.add_argument(
        "--uncached", action="store_true", help="also measure x1 with the list cache off"
    )
    args = ap.parse_args()

    print(f"calibration: fixed pure-Python loop {calibration() * 1000:.0f} ms", flush=True)
    st = stack()
    url = await create_database(st, "reviews_bench")
    try:
        await migrate("reviews", url)
        dsn = asyncpg_dsn(url)
        t0 = time.perf_counter()
        await seed(dsn, args.reviews, args.tenants)
        print(f"seeded {args.reviews} reviews of one plugin in {time.perf_counter() - t0:.1f} s")
        work = await workload(dsn, 1000)
        pool = await asyncpg.create_pool(dsn, min_size=args.concurrency, max_size=args.concurrency)

        prepared = []
        for q in work:
            sort = ReviewSort(q["sort"])
            after = decode_cursor(q["cursor"], sort) if "cursor" in q else None
            rating = q.get("rating")
            sql = page_sql(sort, by_id=False, rating=rating is not None, after=after is not None)
            prepared.append((sql, page_args(SLUG, rating, False, after, LIMIT + 1)))

        async def raw(item) -> None:
            # The statement the service runs for a page (plugin, summary and page at once).
            sql, sql_args = item
            async with pool.acquire() as conn:
                await conn.fetch(sql, *sql_args)

        print(f"-- list, {args.concurrency} concurrent clients, {args.duration:.0f} s each --")
        await run_load("warm-up (raw)", raw, prepared, args.concurrency, 3)
        base = await run_load(
            "raw SQL (asyncpg, same statements)", raw, prepared, args.concurrency, args.duration
        )
        await pool.close()
        if args.uncached:
            svc = await bench_service(url, st.kafka_bootstrap, 1, work, args, cached=False)
            print(f"  -> cache off: service / raw throughput {svc[0] / base[0]:.2f}", flush=True)
        for workers in (int(w) for w in args.workers.split(",") if w):
            svc = await bench_service(url, st.kafka_bootstrap, workers, work, args)
            print(
                f"  -> service / raw throughput {svc[0] / base[0]:.2f} (aim >= 0.5);"
                f" service p99 {svc[2]:.1f} ms (aim <= 30 ms)",
                flush=True,
            )
    finally:
        if not args.keep:
            await drop_database(st, url)


if __name__ == "__main__":
    uvloop.run(main())
