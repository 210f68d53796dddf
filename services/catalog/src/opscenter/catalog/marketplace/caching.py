"""The marketplace caches of one API process and their HTTP side (ADR 0008).

- ``GET /api/v1/plugins/marketplace`` answers are cached as response bytes, keyed by
  ``search_key``: the query string's known parameters, decoded exactly as Starlette decodes them
  and ordered by name (the order of repeated values kept). Equal keys mean equal validated
  parameters, so a key is only ever stored by a successful answer to the same input; an invalid
  input is never stored and keeps answering 422. No answer depends on the caller (the endpoint
  takes no principal), so the key has no tenant or role in it.
- ``search_fast_path`` answers hits before routing: no validation, SQL, pydantic or tracing (a
  hit has no downstream work to trace). Misses, and everything else, go through the app.
- ``servicekit.notify_cache.InvalidateOnWrite`` empties this process's caches when a write it
  handled succeeds, before the answer leaves, so the writer reads its own write; other processes
  learn of it by ``NOTIFY`` (``invalidation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client import Counter
from starlette.types import ASGIApp, Scope

from opscenter.catalog.marketplace.invalidation import CHANNEL
from opscenter.catalog.settings import CatalogSettings
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.notify_cache import CachedGetFastPath, NotifyListener
from opscenter.servicekit.result_cache import ResultCache

SEARCH_PATH = "/api/v1/plugins/marketplace"
#: The endpoint's query parameters; others do not change the answer and stay out of the key.
SEARCH_PARAMS = frozenset(
    {
        "q",
        "category",
        "type",
        "tag",
        "pricing",
        "verified",
        "compatible_with",
        "sort",
        "limit",
        "cursor",
        "facets",
    }
)
CACHE_HEADER = "x-catalog-cache"

SEARCH_CACHE_REQUESTS = Counter(
    "catalog_search_cache_requests", "Marketplace search answers by cache outcome", ["outcome"]
)
_HITS = SEARCH_CACHE_REQUESTS.labels("hit")


@dataclass(frozen=True)
class SearchEntry:
    """A cached search answer: the response body, and when a listed featured flag lapses."""

    body: bytes
    featured_lapses_in: float | None

    def lifetime(self) -> float | None:
        return self.featured_lapses_in

    def size(self) -> int:
        return len(self.body) + 200  # the entry, key and bookkeeping around the body


def search_key(query_string: bytes) -> tuple[tuple[str, str], ...]:
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return tuple(sorted((p for p in pairs if p[0] in SEARCH_PARAMS), key=lambda p: p[0]))


@dataclass
class MarketplaceCaches:
    search: ResultCache[SearchEntry]
    #: ``/marketplace/categories`` counts listed plugins only: a listing change notifies.
    categories: ResultCache[Any]
    facets: ResultCache[Any]
    listener: NotifyListener

    @classmethod
    def create(cls, settings: CatalogSettings) -> MarketplaceCaches:
        search: ResultCache[SearchEntry] = ResultCache(
            settings.search_cache_seconds,
            max_entries=settings.search_cache_max_entries,
            max_bytes=settings.search_cache_max_bytes,
            size_of=SearchEntry.size,
            enabled=False,  # until the listener is in place
            stale_for=settings.search_cache_stale_seconds,
        )
        categories: ResultCache[Any] = ResultCache(
            settings.search_cache_seconds, max_entries=1, enabled=False
        )
        facets: ResultCache[Any] = ResultCache(settings.facet_cache_seconds)
        listener = NotifyListener(
            asyncpg_dsn(settings.database_url),
            CHANNEL,
            gated=[search, categories],
            always=[facets],
            ping_interval=settings.listing_listener_ping_seconds,
        )
        return cls(search=search, categories=categories, facets=facets, listener=listener)


def search_fast_path(app: ASGIApp, caches: MarketplaceCaches) -> CachedGetFastPath:
    """Answers a fresh search hit before routing (the outermost middleware)."""

    def key_of(scope: Scope) -> tuple[tuple[str, str], ...] | None:
        return search_key(scope["query_string"]) if scope["path"] == SEARCH_PATH else None

    return CachedGetFastPath(
        app, cache=caches.search, key_of=key_of, header=CACHE_HEADER, on_hit=_HITS.inc
    )
