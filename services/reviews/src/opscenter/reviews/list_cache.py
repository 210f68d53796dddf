"""The review list's answer cache in each API process (ADR 0020; the mechanism is
``servicekit.notify_cache``, as the catalog's search cache, ADR 0008).

- **What**: ``GET /plugins/marketplace/{slug}/reviews`` answers as response bytes, keyed by
  whether the caller is platform_admin (who also sees hidden reviews), the path and the query's
  known parameters as Starlette decodes them, ordered by name. Only successful answers are
  stored, so invalid input keeps answering 4xx. No other part of an answer depends on the
  caller.
- **Exact, not "fresh enough"**: every write of the tables the list reads notifies
  ``reviews_list`` at commit (migration ``reviews_0003``), which empties the cache of every
  process; this process's own successful writes empty it before their answer leaves. While the
  listener is down the cache is bypassed. The TTL is only a safety net.
- **Hits skip everything** for callers without a token (the public read): answered before
  routing. A caller with a token goes through the app (its token is checked; 401 if invalid)
  and then through the same cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from prometheus_client import Counter
from starlette.types import ASGIApp, Scope

from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.notify_cache import CachedGetFastPath, NotifyListener
from opscenter.servicekit.result_cache import ResultCache

CHANNEL = "reviews_list"
CACHE_HEADER = "x-reviews-cache"
_PREFIX = "/api/v1/plugins/marketplace/"
_SUFFIX = "/reviews"
#: The list's query parameters; others do not change the answer and stay out of the key.
LIST_PARAMS = frozenset({"sort", "rating", "limit", "cursor"})

LIST_CACHE_REQUESTS = Counter(
    "reviews_list_cache_requests", "Review list answers by cache outcome", ["outcome"]
)
_HITS = LIST_CACHE_REQUESTS.labels("hit")

ListKey = tuple[bool, str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class ListEntry:
    body: bytes

    def size(self) -> int:
        return len(self.body) + 200  # the entry, key and bookkeeping around the body


def is_list_path(path: str) -> bool:
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return False
    return "/" not in path[len(_PREFIX) : -len(_SUFFIX)]


def list_key(path: str, query_string: bytes, *, admin: bool) -> ListKey:
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    known = tuple(sorted((p for p in pairs if p[0] in LIST_PARAMS), key=lambda p: p[0]))
    return admin, path, known


@dataclass
class ListCache:
    entries: ResultCache[ListEntry]
    listener: NotifyListener

    @classmethod
    def create(cls, settings: ReviewsSettings) -> ListCache:
        entries: ResultCache[ListEntry] = ResultCache(
            settings.list_cache_seconds,
            max_entries=settings.list_cache_max_entries,
            max_bytes=settings.list_cache_max_bytes,
            size_of=ListEntry.size,
            enabled=False,  # until the listener is in place
        )
        listener = NotifyListener(
            asyncpg_dsn(settings.database_url),
            CHANNEL,
            gated=[entries],
            ping_interval=settings.list_listener_ping_seconds,
        )
        return cls(entries=entries, listener=listener)


def list_fast_path(app: ASGIApp, cache: ListCache) -> CachedGetFastPath:
    """Answers a fresh hit for a caller without a token before routing."""

    def key_of(scope: Scope) -> ListKey | None:
        if not is_list_path(scope["path"]):
            return None
        if any(name == b"authorization" for name, _ in scope["headers"]):
            return None  # the app checks the token first
        return list_key(scope["path"], scope["query_string"], admin=False)

    return CachedGetFastPath(
        app, cache=cache.entries, key_of=key_of, header=CACHE_HEADER, on_hit=_HITS.inc
    )
