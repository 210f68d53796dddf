"""The marketplace search cache on the real Postgres (ADR 0008): listing changes empty it at once
on every replica, a lost listener disables it, no answer depends on the caller, bad input still
answers 422, and counter updates do not notify.

``cached`` is an app whose lifespan runs (its listener is up, so its search cache is on); the
session ``client`` app has no lifespan, so it stands for another replica whose cache is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from opscenter.catalog.main import create_app
from opscenter.catalog.marketplace.caching import CACHE_HEADER, MarketplaceCaches
from opscenter.catalog.marketplace.invalidation import CHANNEL
from opscenter.catalog.settings import CatalogSettings
from opscenter.catalog.testing import manifest, package
from opscenter.servicekit.db import asyncpg_dsn

M = "/api/v1/plugins/marketplace"
# A safety net only: every wait below ends as soon as its condition holds.
WAIT = 10


class Replica:
    def __init__(self, client: httpx.AsyncClient, caches: MarketplaceCaches) -> None:
        self.client = client
        self.caches = caches

    async def search(self, **params: Any) -> tuple[str, list[str], httpx.Response]:
        r = await self.client.get(M, params=params)
        assert r.status_code == 200, r.text
        return r.headers[CACHE_HEADER], [i["slug"] for i in r.json()["items"]], r

    async def until(self, condition: Any) -> None:
        async def poll() -> None:
            while not condition():
                await asyncio.sleep(0.005)

        await asyncio.wait_for(poll(), WAIT)

    async def notified(self, since: int, count: int = 1) -> None:
        """Waits until ``count`` listing notifications have emptied the cache after generation
        ``since``."""
        await self.until(lambda: self.caches.search.generation >= since + count)

    async def published(self, publish, publisher: str, **m: Any) -> dict[str, Any]:
        """Publishes through another app and waits for both of its notifications (register,
        upload) to reach this replica: one arriving late would empty a freshly cached answer."""
        since = self.caches.search.generation
        p: dict[str, Any] = await publish(publisher, **m)
        await self.notified(since, 2)
        return p


@pytest.fixture
async def cached(settings: CatalogSettings) -> AsyncIterator[Replica]:
    app = create_app(settings)
    caches: MarketplaceCaches = app.state.marketplace_caches
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(caches.listener.wait_listening(), WAIT)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield Replica(c, caches)


def word() -> str:
    return f"sc{uuid.uuid4().hex[:8]}"


async def listed_and_cached(
    replica: Replica, publish, publisher: str
) -> tuple[str, dict[str, Any]]:
    """A published plugin with a word of its own, whose search answer ``replica`` has cached."""
    w = word()
    p = await replica.published(publish, publisher, name=f"{w} plugin")
    assert (await replica.search(q=w))[:2] == ("miss", [p["slug"]])
    assert (await replica.search(q=w))[:2] == ("hit", [p["slug"]])
    return w, p


async def ban(client: httpx.AsyncClient, tokens, slug: str) -> None:
    r = await client.request(
        "DELETE",
        f"/api/v1/admin/plugins/{slug}/ban",
        json={"reason": "malware"},
        headers=tokens.admin(),
    )
    assert r.status_code == 200, r.text


async def test_a_cached_search_stops_listing_a_plugin_the_moment_it_is_banned_here(
    cached, publish, publisher, tokens
):
    w, p = await listed_and_cached(cached, publish, publisher)
    before = await monitoring_count(cached)
    assert await monitoring_count(cached) == before
    assert len(cached.caches.categories) == 1

    # A refused write (no token) changes nothing and leaves the caches alone.
    generation = cached.caches.search.generation
    r = await cached.client.delete(f"/api/v1/admin/plugins/{p['slug']}/ban?reason=x")
    assert r.status_code == 401
    assert cached.caches.search.generation == generation
    assert (await cached.search(q=w))[:2] == ("hit", [p["slug"]])

    generation = cached.caches.search.generation
    await ban(cached.client, tokens, p["slug"])  # through this replica's API
    assert cached.caches.search.generation > generation  # emptied before the answer left

    # Delisted at once, whether or not the ban's notification has arrived yet (if it has, this
    # answer may be cached already: the outcome is not what is asserted here).
    assert (await cached.search(q=w))[1] == []
    # The notification empties the cache once more when it arrives: wait for it (the write
    # emptied it once, the notification does it again) before showing the answer is cached.
    await cached.notified(generation, 2)
    assert (await cached.search(q=w))[:2] in (("miss", []), ("hit", []))
    assert (await cached.search(q=w))[:2] == ("hit", [])
    assert await monitoring_count(cached) == before - 1


async def monitoring_count(replica: Replica) -> int:
    r = await replica.client.get(f"{M}/categories")
    assert r.status_code == 200, r.text
    return next(c["count"] for c in r.json() if c["category"] == "monitoring")


async def test_a_ban_through_another_replica_reaches_this_one_by_notify(
    cached, client, publish, publisher, tokens
):
    w, p = await listed_and_cached(cached, publish, publisher)
    generation = cached.caches.search.generation

    await ban(client, tokens, p["slug"])  # another app: only NOTIFY tells ``cached``
    await cached.notified(generation)

    assert (await cached.search(q=w))[:2] == ("miss", [])


async def test_a_newly_published_plugin_appears_in_a_cached_search(
    cached, register, upload, publisher, tokens
):
    w = word()
    assert (await cached.search(q=w))[:2] == ("miss", [])
    assert (await cached.search(q=w))[:2] == ("hit", [])  # the empty answer is cached too
    slug = (await register(publisher, name=f"{w} fresh"))["slug"]
    generation = cached.caches.search.generation
    r = await upload(publisher, package(manifest(slug, "1.0.0", name=f"{w} fresh")))
    assert r.status_code == 201, r.text
    await cached.notified(generation)
    assert (await cached.search(q=w))[:2] == ("miss", [slug])

    # Published through the cached replica itself: visible in the very next answer.
    slug2 = (await register(publisher, name=f"{w} second"))["slug"]
    r = await cached.client.post(
        "/api/v1/plugins/upload",
        headers=tokens.developer(publisher),
        files={"package": ("p.tar.gz", package(manifest(slug2, "1.0.0", name=f"{w} second")))},
    )
    assert r.status_code == 201, r.text
    outcome, slugs, _ = await cached.search(q=w, sort="name")
    assert outcome == "miss"
    assert set(slugs) == {slug, slug2}


async def test_a_lost_listener_disables_the_cache_until_it_listens_again(
    cached, client, publish, publisher, tokens
):
    w, p = await listed_and_cached(cached, publish, publisher)
    listener = cached.caches.listener

    # The connection drops as on a network failure: the cache is emptied and bypassed.
    await listener.drop_connection()
    await cached.until(lambda: not listener.listening)
    assert len(cached.caches.search) == 0
    assert (await cached.search(q=w))[:2] == ("bypass", [p["slug"]])
    assert (await cached.search(q=w))[:2] == ("bypass", [p["slug"]])
    await cached.until(lambda: listener.listening)  # it reconnects by itself

    # A change committed while nobody listens is never announced to this replica; re-listening
    # starts from an empty cache, so it cannot serve the page the ban should have removed.
    assert (await cached.search(q=w))[:2] == ("miss", [p["slug"]])
    await listener.stop()
    await ban(client, tokens, p["slug"])
    assert (await cached.search(q=w))[:2] == ("bypass", [])
    await listener.start()
    await asyncio.wait_for(listener.wait_listening(), WAIT)
    assert (await cached.search(q=w))[:2] == ("miss", [])


async def test_answers_do_not_depend_on_the_caller(cached, publish, publisher, tokens):
    """The endpoint takes no principal: anonymous, member, developer and admin callers get the
    same bytes, so one cached answer may serve them all (and a banned plugin is gone for all)."""
    w = word()
    await cached.published(publish, publisher, name=f"{w} a")
    callers = [
        {},
        tokens.member("t-1"),
        tokens.member("t-2"),
        tokens.developer(publisher),
        tokens.admin(),
    ]
    bodies = set()
    outcomes = []
    for headers in callers:
        r = await cached.client.get(M, params={"q": w}, headers=headers)
        bodies.add(r.content)
        outcomes.append(r.headers[CACHE_HEADER])
    assert len(bodies) == 1
    assert outcomes == ["miss", "hit", "hit", "hit", "hit"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "x"},
        {"sort": "bogus"},
        {"q": "x" * 201},
        {"cursor": "not-a-cursor"},
        {"compatible_with": "v1"},
        {"q": "a\x00b"},
    ],
)
async def test_bad_input_still_answers_422_and_is_never_cached(cached, params):
    for _ in range(2):
        r = await cached.client.get(M, params=params)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert CACHE_HEADER not in r.headers
    assert len(cached.caches.search) == 0


async def test_page_order_of_parameters_and_unknown_ones_share_an_entry(cached, publish, publisher):
    w = word()
    await cached.published(publish, publisher, name=f"{w} a")
    first = await cached.client.get(f"{M}?q={w}&sort=name&limit=5")
    again = await cached.client.get(f"{M}?limit=5&_=123&sort=name&q={w}")
    assert (first.headers[CACHE_HEADER], again.headers[CACHE_HEADER]) == ("miss", "hit")
    assert first.content == again.content
    other = await cached.client.get(f"{M}?q={w}&sort=name&limit=6")
    assert other.headers[CACHE_HEADER] == "miss"


async def test_counter_updates_do_not_notify_but_listing_changes_do(settings, publish, publisher):
    """Rating and install counts only reorder: the trigger stays silent for them (the TTL bounds
    their staleness), while any listed column notifies, once per transaction, at commit."""
    p = await publish(publisher)
    received: list[str] = []
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        await conn.add_listener(CHANNEL, lambda _c, _pid, _ch, payload: received.append(payload))
        writer = await asyncpg.connect(asyncpg_dsn(settings.database_url))
        try:
            pid = uuid.UUID(p["plugin_id"])
            await writer.execute(
                "UPDATE plugins SET install_count = install_count + 5, rating_count = 3,"
                " rating_average = 4.5, rating_bayesian = 3.4, rating_histogram = '{\"5\": 3}',"
                " download_count = download_count + 1, updated_at = now() WHERE id = $1",
                pid,
            )
            async with writer.transaction():
                await writer.execute("UPDATE plugins SET verified = true WHERE id = $1", pid)
                await writer.execute("UPDATE plugins SET name = name || 'x' WHERE id = $1", pid)
            with contextlib.suppress(RuntimeError):
                async with writer.transaction():
                    await writer.execute("UPDATE plugins SET verified = false WHERE id = $1", pid)
                    raise RuntimeError("rolled back: never announced")
            await writer.execute("UPDATE plugins SET deprecated = true WHERE id = $1", pid)

            # Notifications arrive in commit order: once the last one is here, any the earlier
            # statements had sent would be here too.
            async def two() -> None:
                while len(received) < 2:
                    await asyncio.sleep(0.005)

            await asyncio.wait_for(two(), WAIT)
        finally:
            await writer.close()
    finally:
        await conn.close()
    assert received == ["", ""]  # the two-statement transaction and the last update
