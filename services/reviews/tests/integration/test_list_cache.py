"""The review list's cache on the real Postgres (ADR 0020): a write shows in the next read of the
process that handled it and, by NOTIFY, in every other process; the worker's projection changes
reach it too; admins' and the public's answers are cached apart; a lost listener bypasses it;
bad input is never cached.

``Replica`` is an app whose lifespan runs (its listener is up, so its cache is on), as one API
process with its own pool, listener and cache; two of them stand for two API processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from opscenter.reviews.list_cache import CACHE_HEADER, ListCache
from opscenter.reviews.main import create_app
from opscenter.reviews.settings import ReviewsSettings

# A safety net only: every wait below ends as soon as its condition holds.
WAIT = 10


class Replica:
    def __init__(self, client: httpx.AsyncClient, cache: ListCache) -> None:
        self.client = client
        self.cache = cache

    async def list(
        self, url: str, headers: dict[str, str] | None = None, **params: Any
    ) -> tuple[str, list[str], dict[str, Any]]:
        r = await self.client.get(url, params=params, headers=headers or {})
        assert r.status_code == 200, r.text
        page = r.json()
        return r.headers[CACHE_HEADER], [i["id"] for i in page["items"]], page

    async def until(self, condition: Callable[[], Any]) -> None:
        async def poll() -> None:
            while not await condition():
                await asyncio.sleep(0.005)

        await asyncio.wait_for(poll(), WAIT)


@contextlib.asynccontextmanager
async def replica(settings: ReviewsSettings) -> AsyncIterator[Replica]:
    app = create_app(settings)
    cache: ListCache = app.state.list_cache
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(cache.listener.wait_listening(), WAIT)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield Replica(c, cache)


@pytest.fixture
async def one(settings: ReviewsSettings, runtime: Any) -> AsyncIterator[Replica]:
    async with replica(settings) as r:
        yield r


@pytest.fixture
async def other(settings: ReviewsSettings, runtime: Any) -> AsyncIterator[Replica]:
    async with replica(settings) as r:
        yield r


async def cached(r: Replica, url: str, headers: dict[str, str] | None = None, **params: Any):
    """Reads until ``r`` answers from its cache (a notification of an earlier commit, such as
    the write just made or a projection row, may still be on its way and empty it once more);
    the ids the hit lists."""
    ids: list[str] = []

    async def hit() -> bool:
        nonlocal ids
        outcome, ids, _ = await r.list(url, headers, **params)
        return outcome == "hit"

    await r.until(hit)
    return ids


async def test_a_write_shows_in_the_next_read_of_the_process_that_handled_it(
    one, plugin, reviewer, review_body
):
    alice, bob = await reviewer(), await reviewer()
    assert await cached(one, plugin.reviews) == []

    r = await one.client.post(plugin.reviews, json=review_body(2), headers=alice.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    # No waiting: the write emptied this process's cache before its answer left.
    _, ids, page = await one.list(plugin.reviews)
    assert ids == [made["id"]]
    assert page["summary"]["count"] == 1
    assert await cached(one, plugin.reviews) == [made["id"]]

    r = await one.client.put(
        f"{plugin.reviews}/{made['id']}", json=review_body(5), headers=alice.headers
    )
    assert r.status_code == 200, r.text
    page = (await one.list(plugin.reviews))[2]
    assert [i["rating"] for i in page["items"]] == [5]
    assert page["summary"]["histogram"]["5"] == 1

    r = await one.client.post(f"{plugin.reviews}/{made['id']}/helpful", headers=bob.headers)
    assert r.status_code == 200, r.text
    assert [i["helpful_count"] for i in (await one.list(plugin.reviews))[2]["items"]] == [1]

    r = await one.client.delete(f"{plugin.reviews}/{made['id']}", headers=alice.headers)
    assert r.status_code == 204, r.text
    _, ids, page = await one.list(plugin.reviews)
    assert (ids, page["summary"]["count"]) == ([], 0)


async def test_a_write_through_one_process_shows_through_the_other(
    one, other, plugin, reviewer, review_body
):
    alice = await reviewer()
    assert await cached(other, plugin.reviews) == []
    assert await cached(other, plugin.reviews, sort="lowest") == []

    r = await one.client.post(plugin.reviews, json=review_body(1), headers=alice.headers)
    assert r.status_code == 201, r.text
    made = r.json()

    # Only NOTIFY tells ``other``: it arrives milliseconds after the commit.
    async def shown() -> bool:
        return (await other.list(plugin.reviews))[1] == [made["id"]]

    await other.until(shown)
    assert (await other.list(plugin.reviews, sort="lowest"))[1] == [made["id"]]
    assert await cached(other, plugin.reviews) == [made["id"]]


async def test_the_workers_projection_changes_reach_the_cache(
    one, world, plugin, reviewer, review_body
):
    alice = await reviewer()
    r = await one.client.post(plugin.reviews, json=review_body(4), headers=alice.headers)
    assert r.status_code == 201, r.text
    assert [i["still_installed"] for i in (await one.list(plugin.reviews))[2]["items"]] == [True]
    assert await cached(one, plugin.reviews) == [r.json()["id"]]

    rows = await world.rows(
        "SELECT installation_id FROM installations WHERE tenant_id = :t", t=alice.tenant_id
    )
    await world.uninstall(plugin, alice.tenant_id, rows[0]["installation_id"])

    async def uninstalled() -> bool:
        items = (await one.list(plugin.reviews))[2]["items"]
        return [i["still_installed"] for i in items] == [False]

    await one.until(uninstalled)


async def test_admins_and_the_publics_answers_are_cached_apart(
    one, plugin, reviewer, review_body, tokens
):
    alice, bob = await reviewer(), await reviewer()
    spam = (
        await one.client.post(plugin.reviews, json=review_body(1), headers=alice.headers)
    ).json()
    kept = (await one.client.post(plugin.reviews, json=review_body(5), headers=bob.headers)).json()
    r = await one.client.put(
        f"/api/v1/admin/reviews/{spam['id']}/hide",
        json={"hidden": True, "reason": "spam"},
        headers=tokens.admin(),
    )
    assert r.status_code == 200, r.text

    admin = tokens.admin()
    assert (await one.list(plugin.reviews))[1] == [kept["id"]]
    assert (await one.list(plugin.reviews, headers=admin))[1] == [kept["id"], spam["id"]]
    assert await cached(one, plugin.reviews) == [kept["id"]]
    assert await cached(one, plugin.reviews, headers=bob.headers) == [kept["id"]]
    assert await cached(one, plugin.reviews, headers=admin) == [kept["id"], spam["id"]]
    assert await cached(one, plugin.reviews) == [kept["id"]]

    # A cached public answer never lets a bad token through.
    r = await one.client.get(plugin.reviews, headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("query", ["rating=9", "limit=0", "sort=best", "cursor=%21%21"])
async def test_bad_input_still_answers_422_and_is_never_cached(one, plugin, query):
    for _ in range(2):
        r = await one.client.get(f"{plugin.reviews}?{query}")
        assert r.status_code == 422, r.text
        assert CACHE_HEADER not in r.headers
    assert (
        await one.client.get("/api/v1/plugins/marketplace/no-such-plugin/reviews")
    ).status_code == 404
    assert len(one.cache.entries) == 0


async def test_a_lost_listener_bypasses_the_cache_until_it_listens_again(
    one, settings, plugin, reviewer, review_body
):
    assert await cached(one, plugin.reviews) == []
    listener = one.cache.listener

    await listener.drop_connection()

    async def down() -> bool:
        return not listener.listening

    await one.until(down)
    assert len(one.cache.entries) == 0
    assert (await one.list(plugin.reviews))[:2] == ("bypass", [])

    # A write committed through another process while nobody listens here is never announced;
    # listening again starts from an empty cache, so it cannot serve the page without it.
    await listener.stop()
    alice = await reviewer()
    async with replica(settings) as two:
        r = await two.client.post(plugin.reviews, json=review_body(3), headers=alice.headers)
        assert r.status_code == 201, r.text
    await listener.start()
    await asyncio.wait_for(listener.wait_listening(), WAIT)
    assert (await one.list(plugin.reviews))[:2] == ("miss", [r.json()["id"]])
