"""The facet cache (TTL, single flight, failures not cached) and the search statements' shape."""

from __future__ import annotations

import asyncio

import pytest

from opscenter.catalog.marketplace import search
from opscenter.catalog.marketplace.result_cache import ResultCache
from opscenter.catalog.marketplace.search import SearchParams


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
    cache._entries["k"] = (0.0, 1, 0)  # expired
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
