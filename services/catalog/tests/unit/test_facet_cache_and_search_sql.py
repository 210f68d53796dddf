"""The facet cache (TTL, single flight, failures not cached) and the search statements' shape."""

from __future__ import annotations

import asyncio

import pytest

from opscenter.catalog.marketplace import search
from opscenter.catalog.marketplace.search import SearchParams
from opscenter.servicekit.result_cache import ResultCache, _Entry


async def test_concurrent_misses_share_one_computation_and_hits_skip_it():
    cache: ResultCache[int] = ResultCache(ttl=60)
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 7

    assert await asyncio.gather(*(cache.get("k", compute) for _ in range(5))) == [7] * 5
    assert await cache.get("k", compute) == 7
    assert calls == 1
    assert await cache.get("other", compute) == 7
    assert calls == 2


async def test_expired_entries_and_failures_recompute():
    cache: ResultCache[int] = ResultCache(ttl=60)
    results = iter([1, 2])

    async def compute() -> int:
        return next(results)

    assert await cache.get("k", compute) == 1
    cache._entries["k"] = _Entry(0.0, 0.0, 1, 0)  # expired
    assert await cache.get("k", compute) == 2

    async def boom() -> int:
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError):
        await cache.get("x", boom)
    assert "x" not in cache._entries
    assert not cache._inflight


async def test_zero_ttl_disables_the_cache():
    cache: ResultCache[int] = ResultCache(ttl=0)
    n = 0

    async def compute() -> int:
        nonlocal n
        n += 1
        return n

    assert [await cache.get("k", compute) for _ in range(3)] == [1, 2, 3]


def test_prefix_tsquery_and_facet_key_normalisation():
    assert search.prefix_tsquery("Graf  Dash!") == "graf:* & dash:*"
    assert search.prefix_tsquery("graf", "AB") == "graf:*AB"
    assert search.prefix_tsquery("!!") is None
    a = SearchParams(q=" Grafana  Dash ", category="ai").facet_key(False)
    assert a == SearchParams(q="grafana dash", category="security").facet_key(False)
    b = SearchParams(q="grafana dash", category="ai").facet_key(False)
    assert a == b
    assert a != SearchParams(q="grafana dash", category="ai").facet_key(True)


def test_relevance_statement_shape_per_tier():
    first, binds = search.search_sql(SearchParams(q="monitor", limit=20, ref_epoch=1.0))
    assert "cand_head" in first
    assert "t1" in first
    assert "after_key" not in binds
    assert binds["tsq_ab"] == "monitor:*AB"
    t1, b1 = search.search_sql(
        SearchParams(
            q="monitor",
            after=[0.5, "00000000-0000-0000-0000-000000000001"],
            after_tier=1,
            typo=False,
        )
    )
    assert "t1.sort_key, t1.id) <" in t1
    assert b1["typo"] is False
    t2, _ = search.search_sql(
        SearchParams(
            q="monitor",
            after=[0.5, "00000000-0000-0000-0000-000000000001"],
            after_tier=2,
            typo=False,
        )
    )
    assert "(p.search_boost, p.id) <" in t2
    assert "t1 AS" not in t2
    pop, pb = search.search_sql(SearchParams(q="monitor", sort="popular", typo=True))
    assert "<% p.name" in pop
    assert pb["typo"] is True


async def test_an_invalidation_during_a_computation_keeps_its_value_out():
    cache: ResultCache[int] = ResultCache(ttl=60)
    started, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def slow() -> int:
        nonlocal calls
        calls += 1
        mine = calls
        started.set()
        await release.wait()
        return mine

    first = asyncio.create_task(cache.get("k", slow))
    await started.wait()
    cache.invalidate()  # a listing change committed while the page was computed
    second = asyncio.create_task(cache.get("k", slow))  # must not join the old computation
    await asyncio.sleep(0)
    release.set()
    assert sorted(await asyncio.gather(first, second)) == [1, 2]
    assert calls == 2
    assert await cache.get("k", slow) == 2  # only the post-invalidation value was stored
    assert calls == 2


async def test_disabled_bypasses_and_byte_bound_and_lifetime_evict():
    cache: ResultCache[bytes] = ResultCache(ttl=60, max_bytes=10, size_of=len, enabled=False)

    async def value() -> bytes:
        return b"abcd"

    assert await cache.get("a", value) == b"abcd"
    assert len(cache) == 0
    assert cache.peek("a") is None
    cache.set_enabled(True)
    for key in "abc":
        await cache.get(key, value)
    assert len(cache) == 2
    assert cache.bytes == 8
    assert cache.peek("a") is None
    assert cache.peek("c") == b"abcd"
    await cache.get("short", value, lifetime=lambda v: 0.0)  # e.g. a featured flag lapsing now
    assert cache.peek("short") is None
    cache.set_enabled(False)
    assert len(cache) == 0
    assert cache.peek("c") is None


def test_search_key_is_order_free_and_ignores_unknown_parameters():
    from opscenter.catalog.marketplace.caching import search_key

    assert search_key(b"q=graf&sort=name&limit=5") == search_key(b"limit=5&_=1&sort=name&q=graf")
    assert search_key(b"q=gra%66") == search_key(b"q=graf")
    assert search_key(b"q=graf+dash") == (("q", "graf dash"),)
    # Repeated values keep their order: the endpoint reads the last one.
    assert search_key(b"q=a&q=b") != search_key(b"q=b&q=a")
    assert search_key(b"q=a") != search_key(b"q=a&facets=false")


async def test_a_page_past_its_ttl_is_served_while_one_refresh_replaces_it():
    cache: ResultCache[int] = ResultCache(ttl=60, stale_for=60)
    started, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            started.set()
            await release.wait()
        return calls

    assert await cache.lookup("k", compute) == (1, "miss")
    fresh_until, servable, value, size = cache._entries["k"]
    assert servable > fresh_until
    cache._entries["k"] = _Entry(0.0, servable, value, size)  # past its TTL, still servable
    assert cache.peek("k") is None  # the fast path serves fresh entries only
    answers = await asyncio.gather(*(cache.lookup("k", compute) for _ in range(3)))
    assert answers == [(1, "stale")] * 3
    await started.wait()
    release.set()
    await asyncio.gather(*cache._refreshes)
    assert calls == 2  # one refresh for the three callers
    assert await cache.lookup("k", compute) == (2, "hit")


async def test_stale_pages_never_survive_an_invalidation_or_a_deadline():
    cache: ResultCache[int] = ResultCache(ttl=60, stale_for=60)
    n = 0

    async def compute() -> int:
        nonlocal n
        n += 1
        return n

    await cache.lookup("k", compute)
    fresh_until, servable, value, size = cache._entries["k"]
    cache._entries["k"] = _Entry(0.0, servable, value, size)
    cache.invalidate()  # a listing change: nothing computed before it may be served
    assert await cache.lookup("k", compute) == (2, "miss")
    # A shortened lifetime is a deadline (a featured flag lapses): no stale window after it.
    await cache.lookup("featured", compute, lifetime=lambda _: 5.0)
    fresh_until, servable, _, _ = cache._entries["featured"]
    assert servable == fresh_until


async def test_a_failed_refresh_keeps_serving_the_stale_page_and_stores_nothing():
    cache: ResultCache[int] = ResultCache(ttl=60, stale_for=60)

    async def one() -> int:
        return 1

    async def boom() -> int:
        raise RuntimeError("db down")

    await cache.lookup("k", one)
    _, servable, value, size = cache._entries["k"]
    cache._entries["k"] = _Entry(0.0, servable, value, size)
    assert await cache.lookup("k", boom) == (1, "stale")
    await asyncio.gather(*cache._refreshes, return_exceptions=True)
    assert cache._entries["k"][2] == 1
    assert not cache._inflight
    assert await cache.lookup("k", boom) == (1, "stale")  # tried again, still served
    await asyncio.gather(*cache._refreshes, return_exceptions=True)


def test_the_search_cache_key_names_every_query_parameter_of_the_endpoint():
    # Two requests differing only in a parameter the key leaves out would share one answer.
    from fastapi.routing import APIRoute

    from opscenter.catalog.marketplace.caching import SEARCH_PARAMS, SEARCH_PATH
    from opscenter.catalog.marketplace.endpoints import router
    from opscenter.servicekit.app import API_PREFIX

    routes = router.routes
    (route,) = [r for r in routes if isinstance(r, APIRoute) and API_PREFIX + r.path == SEARCH_PATH]
    assert {p.alias for p in route.dependant.query_params} == SEARCH_PARAMS
