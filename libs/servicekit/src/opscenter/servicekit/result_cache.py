"""An in-process cache of computed answers: TTL, LRU with an entry and a byte bound, single
flight for concurrent misses, failures never cached, and a *generation* that invalidates.

Used for answers that a Postgres ``NOTIFY`` announces the change of (``notify_cache``: the
catalog's marketplace search, ADR 0008; the reviews list, ADR 0020). A cache driven by a
``NotifyListener`` may be read and filled only while the process listens (``enabled``); each
notification bumps the generation, which empties it at once. The TTL bounds only what no
notification announces (the catalog's counters, a featured flag whose ``featured_until`` passes).

The generation closes the race between a computation and a change: a value is stored only if no
invalidation happened while it was computed, and a request that arrives after an invalidation
never joins (single flight) a computation that started before it.

``stale_for`` (stale-while-revalidate): for that long after its TTL an entry is still served, by
``get`` only, while one background computation replaces it, so a popular key never makes its
callers wait when its TTL runs out. Only the TTL's lapse is covered: an invalidation removes
the entry at once, and an entry whose ``lifetime`` was shortened (a featured flag lapsing) is
never served stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class _Entry(NamedTuple, Generic[T]):
    fresh_until: float
    # Past fresh_until only for entries that may be served stale.
    servable_until: float
    value: T
    size: int


class ResultCache(Generic[T]):
    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 4096,
        max_bytes: int | None = None,
        size_of: Callable[[T], int] | None = None,
        enabled: bool = True,
        stale_for: float = 0.0,
    ) -> None:
        """``ttl <= 0`` disables the cache. With ``max_bytes``, ``size_of`` measures an entry."""
        self.ttl = ttl
        self.stale_for = stale_for
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._enabled = enabled
        self.generation = 0
        self.bytes = 0
        self.hits = 0
        self.stale_hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, _Entry[T]] = OrderedDict()
        self._inflight: dict[tuple[int, Hashable], asyncio.Future[T]] = {}
        self._refreshes: set[asyncio.Task[T]] = set()

    @property
    def enabled(self) -> bool:
        return self._enabled and self.ttl > 0

    def set_enabled(self, enabled: bool) -> None:
        """Disabling (or re-enabling) also invalidates: nothing computed before survives."""
        self._enabled = enabled
        self.invalidate()

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()
        self.bytes = 0

    def peek(self, key: Hashable) -> T | None:
        """The fresh value for ``key``, or None; never computes (the HTTP fast path)."""
        if not self.enabled:
            return None
        hit = self._entries.get(key)
        if hit is None or hit.fresh_until <= time.monotonic():
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return hit.value

    async def get(
        self,
        key: Hashable,
        compute: Callable[[], Awaitable[T]],
        *,
        lifetime: Callable[[T], float | None] | None = None,
    ) -> T:
        """The cached value, or ``compute()`` (once for concurrent callers). ``lifetime(value)``
        may shorten that entry's life (never lengthen it past the TTL)."""
        return (await self.lookup(key, compute, lifetime=lifetime))[0]

    async def lookup(
        self,
        key: Hashable,
        compute: Callable[[], Awaitable[T]],
        *,
        lifetime: Callable[[T], float | None] | None = None,
    ) -> tuple[T, str]:
        """``get``, with how the value was found: "hit", "stale" (served while a background
        computation replaces it), "miss" or "bypass" (the cache is disabled)."""
        hit = self.peek(key)
        if hit is not None:
            return hit, "hit"
        if not self.enabled:
            return await compute(), "bypass"
        stale = self._entries.get(key)
        if stale is not None and stale.servable_until > time.monotonic():
            self.stale_hits += 1
            self._refresh(key, compute, lifetime)
            return stale.value, "stale"
        self.misses += 1
        return await self._compute(key, compute, lifetime), "miss"

    def _refresh(
        self,
        key: Hashable,
        compute: Callable[[], Awaitable[T]],
        lifetime: Callable[[T], float | None] | None,
    ) -> None:
        if (self.generation, key) in self._inflight:
            return
        task = asyncio.create_task(self._compute(key, compute, lifetime))
        self._refreshes.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task[T]) -> None:
        self._refreshes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Nothing is stored; the stale entry keeps being served until it lapses.
            log.warning("cache refresh failed: %r", task.exception())

    async def _compute(
        self,
        key: Hashable,
        compute: Callable[[], Awaitable[T]],
        lifetime: Callable[[T], float | None] | None,
    ) -> T:
        generation = self.generation
        flight = (generation, key)
        pending = self._inflight.get(flight)
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
        self._inflight[flight] = fut
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
            if self.generation == generation and self.enabled:
                limit = lifetime(value) if lifetime is not None else None
                life = self.ttl if limit is None else min(limit, self.ttl)
                if life > 0:
                    now = time.monotonic()
                    # ``lifetime`` is a deadline (a featured flag lapses): never served past it.
                    servable = now + life + self.stale_for
                    if limit is not None:
                        servable = min(servable, now + limit)
                    self._store(key, value, now + life, servable)
            return value
        finally:
            del self._inflight[flight]

    def _store(self, key: Hashable, value: T, expires: float, servable: float) -> None:
        size = self._size_of(value) if self._size_of is not None else 0
        if self.max_bytes is not None and size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        self._entries[key] = _Entry(expires, servable, value, size)
        self.bytes += size
        while len(self._entries) > self.max_entries or (
            self.max_bytes is not None and self.bytes > self.max_bytes
        ):
            _, dropped = self._entries.popitem(last=False)
            self.bytes -= dropped.size

    def __len__(self) -> int:
        return len(self._entries)
