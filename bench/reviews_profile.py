"""Where one review-list request's CPU goes inside the reviews app: cProfile over N calls of the
ASGI app itself (no HTTP parsing, no client), cache off (every call runs the statement) and on
(every call a hit after the first).

    eval "$(deploy/local/stack.sh env dev)"; cd bench; uv run python reviews_profile.py

Prints microseconds per request and the top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import uvloop
from reviews import SLUG, seed, stack

from opscenter.reviews.main import create_app
from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.testing import create_database, drop_database, migrate


async def call(app, path: str, query: bytes) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent


async def profile(url: str, cache_seconds: float, n: int, top: int) -> None:
    st = stack()
    settings = ReviewsSettings(
        database_url=url,
        kafka_bootstrap=st.kafka_bootstrap,
        list_cache_seconds=cache_seconds,
        log_level="WARNING",
    )
    app = create_app(settings)
    path = f"/api/v1/plugins/marketplace/{SLUG}/reviews"
    async with app.router.lifespan_context(app):
        if cache_seconds:
            await app.state.list_cache.listener.wait_listening()
        for _ in range(50):  # warm: pool, prepared statements, the entry
            await call(app, path, b"sort=helpful")
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for _ in range(n):
            await call(app, path, b"sort=helpful")
        prof.disable()
        per = (time.perf_counter() - t0) / n * 1e6
    await app.state.runtime.dispose()
    label = "cache on (hits)" if cache_seconds else "cache off"
    print(f"== {label}: {per:.0f} us per request under cProfile ({n} calls) ==")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--top", type=int, default=18)
    args = ap.parse_args()
    st = stack()
    url = await create_database(st, "reviews_profile")
    try:
        await migrate("reviews", url)
        await seed(asyncpg_dsn(url), 10_000, 2_000)
        await profile(url, 0, args.n // 4, args.top)
        await profile(url, 300, args.n, args.top)
    finally:
        await drop_database(st, url)


if __name__ == "__main__":
    uvloop.run(main())
