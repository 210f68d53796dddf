"""A short-TTL, in-process cache of marketplace facet counts, keyed by the normalised filter set.

Facet counts must cover every match (not a bounded candidate set), so a broad word costs a scan
of a third of the catalog. The marketplace caches the joint (category, type, pricing, verified)
counts per (words, typo mode, tag, compatibility), so one entry serves every combination of the
other filters. The counts are a browsing aid, so they may lag: an entry lives at most
``ttl`` seconds (``CATALOG_FACET_CACHE_SECONDS``, default 30), per process; a publish, ban or
moderation change shows in the counts within that bound (the items themselves are never cached).
Concurrent misses for one key share a single computation (single flight). A failed computation
is not cached. ``ttl <= 0`` disables the cache.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class FacetCache(Generic[T]):
    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        if self.ttl <= 0:
            return await compute()
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            self._entries.move_to_end(key)
            return hit[1]
        pending = self._inflight.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request was cancelled, not the computation
            except Exception:  # noqa: S110 - the leader failed: compute here, uncached
                pass
            return await compute()
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            value = await compute()
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        else:
            fut.set_result(value)
            self._entries[key] = (time.monotonic() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return value
        finally:
            del self._inflight[key]

    def clear(self) -> None:
        self._entries.clear()
