"""Marketplace search through the catalog service beside the same SQL straight through asyncpg.

    eval "$(deploy/local/stack.sh env dev)"; uv run python bench/catalog_search.py

Seeds a fresh database (migrated with the catalog's Alembic history) with 50,000 plugins and
200,000 versions using COPY, then measures search requests/s with p50/p99 latency at 32
concurrent closed-loop clients (p50 is about 32 / throughput), on one uvloop for every line:

- **raw SQL**: the very same statements the service runs for a first page (the page query, then
  the facet query in the typo mode the page settled on, both built by ``marketplace.search``)
  through an asyncpg pool of 32 connections, without any cache;
- **service, cache on**: the catalog API under uvicorn in a subprocess (real HTTP on 127.0.0.1),
  once per ``--workers`` count. Each process's search cache starts empty: a first pass over the
  2,000 queries (652 distinct) fills it and is printed as it is ("cold"), then the measured run;
- **service, cache off** (``CATALOG_SEARCH_CACHE_SECONDS=0``), once per ``--uncached-workers``
  count: every answer computed (the facet cache of ADR 0007 stays on, as in production).

The HTTP client is aiohttp, as in ``bench/installer.py`` (httpx costs about as much CPU per
request as the server's cache hit): one ``ClientSession`` whose connector keeps at most one
keep-alive connection per simulated user. Each service line prints the cache outcomes the
server reported (``x-catalog-cache``) and the hit ratio. Aim: p99 <= 30 ms and at least half the
raw-SQL throughput. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import uvloop
from http_load import free_port, wait_ready

from opscenter.catalog.marketplace.search import SearchParams, facets_sql, search_sql, to_asyncpg
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.testing import LocalStack, create_database, drop_database, migrate

WORDS = [
    "grafana",
    "prometheus",
    "slack",
    "jira",
    "github",
    "gitlab",
    "pager",
    "alert",
    "device",
    "fleet",
    "sensor",
    "metric",
    "log",
    "trace",
    "backup",
    "storage",
    "vault",
    "secret",
    "audit",
    "report",
    "invoice",
    "billing",
    "chat",
    "teams",
    "webhook",
    "cron",
    "deploy",
    "kube",
    "docker",
    "helm",
    "terraform",
    "ansible",
    "network",
    "firewall",
    "vpn",
    "dns",
    "cert",
    "ssl",
    "monitor",
    "uptime",
    "latency",
    "anomaly",
    "forecast",
    "insight",
    "dashboard",
    "export",
    "import",
    "sync",
    "mirror",
    "bridge",
    "notify",
    "email",
    "sms",
    "voice",
    "ticket",
    "incident",
    "oncall",
    "runbook",
    "workflow",
    "robot",
    "ai",
    "vision",
    "speech",
]
CATEGORIES = [
    "ai",
    "monitoring",
    "integration",
    "analytics",
    "security",
    "automation",
    "notification",
    "reporting",
    "storage",
    "networking",
    "devops",
    "other",
]
TYPES = ["backend", "frontend", "hybrid", "container", "theme"]


def stack() -> LocalStack:
    return LocalStack(
        os.environ["OPSCENTER_KAFKA_BOOTSTRAP"],
        os.environ["OPSCENTER_DATABASE_URL"],
        os.environ["OPSCENTER_PG_ADMIN_DSN"],
    )


async def seed(dsn: str, plugins: int, versions_per: int) -> None:
    rnd = random.Random(7)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO publishers (id) SELECT 'pub-' || g FROM generate_series(0, 499) g"
        )
        digest = "ab" * 32
        await conn.execute(
            "INSERT INTO artifacts (digest, size, location) VALUES ($1, 1000, $2)",
            digest,
            f"sha256/ab/ab/{digest}",
        )
        now = datetime.now(UTC)
        plugin_rows, version_rows, ids = [], [], []
        for i in range(plugins):
            pid = uuid.uuid4()
            ids.append(pid)
            words = rnd.sample(WORDS, 3)
            name = f"{words[0].capitalize()} {words[1].capitalize()} {i}"
            tags = rnd.sample(WORDS, 3)
            desc = " ".join(rnd.choices(WORDS, k=20)) + "."
            free = rnd.random() < 0.7
            pricing = {"free": True} if free else {"free": False, "monthly": "9.99"}
            count = rnd.randint(0, 200)
            avg = round(rnd.uniform(1, 5), 2) if count else 0.0
            published = now - timedelta(days=rnd.randint(0, 900))
            plugin_rows.append(
                (
                    pid,
                    f"plugin-{i}-{words[2]}",
                    f"pub-{i % 500}",
                    name,
                    desc,
                    rnd.choice(TYPES),
                    rnd.choice(CATEGORIES),
                    tags,
                    json.dumps(pricing),
                    free,
                    rnd.random() < 0.2,
                    rnd.random() < 0.05,
                    f"1.{versions_per - 1}.0",
                    published,
                    avg,
                    count,
                    (10 * 3.0 + avg * count) / (10 + count),
                    rnd.randint(0, 100_000),
                    now,
                    now,
                )
            )
            for v in range(versions_per):
                version_rows.append(
                    (
                        uuid.uuid4(),
                        pid,
                        f"1.{v}.0",
                        json.dumps({"id": f"plugin-{i}", "version": f"1.{v}.0"}),
                        digest,
                        1000,
                        f"^{1 + v % 3}.0.0",
                        published - timedelta(days=versions_per - v),
                    )
                )
        await conn.copy_records_to_table(
            "plugins",
            records=plugin_rows,
            columns=[
                "id",
                "slug",
                "publisher_id",
                "name",
                "description",
                "type",
                "category",
                "tags",
                "pricing",
                "is_free",
                "verified",
                "deprecated",
                "latest_version",
                "latest_published_at",
                "rating_average",
                "rating_count",
                "rating_bayesian",
                "install_count",
                "created_at",
                "updated_at",
            ],
        )
        await conn.copy_records_to_table(
            "plugin_versions",
            records=version_rows,
            columns=[
                "id",
                "plugin_id",
                "version",
                "manifest",
                "digest",
                "size",
                "compatibility",
                "published_at",
            ],
        )
        # compat ranges: ^1 / ^2 / ^3 as int8multirange over M*10^12 + m*10^6 + p
        await conn.execute(
            "UPDATE plugin_versions SET compat = ('{[' || (substr(compatibility, 2, 1)::bigint"
            " * 1000000000000) || ',' || ((substr(compatibility, 2, 1)::bigint + 1)"
            " * 1000000000000) || ')}')::int8multirange"
        )
        await conn.execute(
            "UPDATE plugins p SET compat = v.c FROM (SELECT plugin_id, range_agg(compat) AS c"
            " FROM plugin_versions GROUP BY plugin_id) v WHERE v.plugin_id = p.id"
        )
        await conn.execute("VACUUM ANALYZE plugins")
        await conn.execute("VACUUM ANALYZE plugin_versions")
    finally:
        await conn.close()


def queries(n: int) -> list[dict[str, str]]:
    rnd = random.Random(11)
    out = []
    for _ in range(n):
        q: dict[str, str] = {"q": rnd.choice(WORDS)}
        r = rnd.random()
        if r < 0.15:
            q["q"] = q["q"][:-1] + "x"  # a typo
        elif r < 0.3:
            q["q"] = q["q"][:4]  # a prefix
        elif r < 0.45:
            q["category"] = rnd.choice(CATEGORIES)
        elif r < 0.55:
            q["q"] += " " + rnd.choice(WORDS)
        out.append(q)
    return out


def to_params(q: dict[str, str]) -> SearchParams:
    return SearchParams(q=q["q"], category=q.get("category"), limit=20, ref_epoch=time.time())


async def run_load(
    label: str, call, work: list, concurrency: int, duration_s: float | None
) -> tuple[float, float, float]:
    """Closed loop: ``concurrency`` workers, each issuing its next request when the previous one
    answered, for ``duration_s`` (None: one pass over ``work``). ``call(worker, item)`` may
    return the cache outcome of the answer ("hit", "miss", "bypass"), which is tallied."""
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    stop_at = time.perf_counter() + (duration_s if duration_s is not None else 1e9)
    idx = 0

    async def worker(n: int) -> None:
        nonlocal idx
        while time.perf_counter() < stop_at and (duration_s is not None or idx < len(work)):
            item = work[idx % len(work)]
            idx += 1
            t0 = time.perf_counter()
            outcome = await call(n, item)
            latencies.append(time.perf_counter() - t0)
            if outcome:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - t0
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    tally = ""
    if outcomes:
        hits = outcomes.get("hit", 0)
        tally = f"   hit ratio {hits / len(lat):.3f} " + str(dict(sorted(outcomes.items())))
    print(
        f"{label:<44} {len(lat) / elapsed:7.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:7.1f} ms"
        f"   ({len(lat)} requests){tally}",
        flush=True,
    )
    return len(lat) / elapsed, p50, p99


def start_service(
    url: str, kafka: str, port: int, workers: int, cache: bool
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": url,
        "CATALOG_KAFKA_BOOTSTRAP": kafka,
        "CATALOG_LOG_LEVEL": "WARNING",
        "CATALOG_DB_POOL_SIZE": "20",
        "CATALOG_SEARCH_CACHE_SECONDS": "30" if cache else "0",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "opscenter.catalog.main:create_app",
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
    url: str, kafka: str, workers: int, cache: bool, work: list, args: argparse.Namespace
) -> tuple[float, float, float]:
    port = free_port()
    proc = start_service(url, kafka, port, workers, cache)
    try:
        # One keep-alive connection per simulated user at most, as bench/installer.py does.
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}",
            timeout=aiohttp.ClientTimeout(total=60),
            connector=aiohttp.TCPConnector(limit=args.concurrency),
        ) as client:
            await wait_ready(client)
            targets = ["/api/v1/plugins/marketplace?" + urllib.parse.urlencode(q) for q in work]

            async def via_http(_: int, target: str) -> str:
                async with client.get(target) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{target!r} answered {r.status}")
                    return r.headers.get("x-catalog-cache", "?")

            label = f"service x{workers}, cache {'on' if cache else 'off'}"
            if cache:
                # The cache starts empty: one pass over every query fills it (each distinct
                # query misses once). That pass is printed as it is; the measured run follows.
                await run_load(
                    f"  cold: 1st pass, {label}", via_http, targets, args.concurrency, None
                )
            else:
                await run_load(f"  warm-up {label}", via_http, targets[:300], args.concurrency, 3)
            return await run_load(label, via_http, targets, args.concurrency, args.duration)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugins", type=int, default=50_000)
    ap.add_argument("--versions-per-plugin", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument(
        "--workers", default="1,2", help="uvicorn worker counts to measure with the search cache"
    )
    ap.add_argument(
        "--uncached-workers",
        default="1",
        help="worker counts to measure with the search cache off (CATALOG_SEARCH_CACHE_SECONDS=0)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the database")
    args = ap.parse_args()

    st = stack()
    url = await create_database(st, "catalog_bench")
    try:
        await migrate("catalog", url)
        t0 = time.perf_counter()
        await seed(asyncpg_dsn(url), args.plugins, args.versions_per_plugin)
        print(
            f"seeded {args.plugins} plugins, {args.plugins * args.versions_per_plugin} versions"
            f" in {time.perf_counter() - t0:.1f} s"
        )
        work = queries(2000)
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url), min_size=args.concurrency, max_size=args.concurrency
        )
        prepared = []
        for q in work:
            p = to_params(q)
            facets = {t: to_asyncpg(*facets_sql(p, t)) for t in (False, True)}
            prepared.append((to_asyncpg(*search_sql(p)), facets))

        async def raw(_: int, item) -> None:
            # What the service runs for a first page, minus its facet cache: the page
            # statement, then the facet statement in the typo mode the page settled on.
            (s_sql, s_args), facets = item
            async with pool.acquire() as conn:
                rows = await conn.fetch(s_sql, *s_args)
                if rows:
                    f_sql, f_args = facets[rows[0]["typo"]]
                    await conn.fetch(f_sql, *f_args)

        print(f"-- search, {args.concurrency} concurrent clients, {args.duration:.0f} s each --")
        await run_load("warm-up (raw)", raw, prepared[:300], args.concurrency, 3)
        base = await run_load(
            "raw SQL (asyncpg, same statements)", raw, prepared, args.concurrency, args.duration
        )
        await pool.close()
        runs = [(int(w), True) for w in args.workers.split(",") if w]
        runs += [(int(w), False) for w in args.uncached_workers.split(",") if w]
        for workers, cache in runs:
            svc = await bench_service(url, st.kafka_bootstrap, workers, cache, work, args)
            print(
                f"  -> service / raw throughput {svc[0] / base[0]:.2f} (aim >= 0.5);"
                f" service p99 {svc[2]:.1f} ms (aim <= 30 ms)",
                flush=True,
            )
    finally:
        if not args.keep:
            await drop_database(st, url)


if __name__ == "__main__":
    uvloop.run(main())  # for every line alike: asyncpg and aiohttp
