"""Listing changes reach every API process's caches through Postgres ``LISTEN``/``NOTIFY``.

The rule: anything that changes what a listing may show (register, publish, update, ban, unban,
yank, deprecate, verify, feature, any write of ``plugins`` except the counters below) empties the
marketplace caches of every process as soon as the change commits.

- **Who notifies**: a trigger on ``plugins`` (migration ``catalog_0004``) runs
  ``pg_notify('catalog_listing', '')`` in the writing transaction, so it is delivered exactly
  when the write commits and never for a rolled-back one, whatever code path (or ``COPY``, or a
  hand-written ``UPDATE``) wrote the row. Updates that change only ``COUNTER_COLUMNS`` (rating
  summaries and install counts from Kafka, download counts, ``updated_at``) do not notify: they
  only reorder, and the search cache's TTL bounds how stale they may be.
- **Who listens**: each API process holds one dedicated asyncpg connection (outside the pool)
  that ``LISTEN``s; every notification invalidates the caches (bumps their generation). A write
  handled by this very process also invalidates its caches before the answer leaves
  (``caching.InvalidateOnWrite``), so a client reads its own write without waiting for the
  notification's round trip.
- **While not listening** (not yet connected, connection lost, reconnecting) the search cache is
  disabled: it is emptied and bypassed until ``LISTEN`` is in place again, so a missed
  notification can never leave a stale page behind. A silently dead connection is found by a
  ping every ``ping_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg

from opscenter.catalog.marketplace.result_cache import ResultCache

log = logging.getLogger(__name__)

CHANNEL = "catalog_listing"
#: ``plugins`` columns whose change alone does not notify (see the trigger in catalog_0004).
COUNTER_COLUMNS = (
    "rating_average",
    "rating_count",
    "rating_bayesian",
    "rating_histogram",
    "install_count",
    "download_count",
    "search_boost",
    "updated_at",
)


class ListingListener:
    """Keeps ``LISTEN catalog_listing`` open and drives ``gated`` (enabled only while listening)
    and ``always`` (merely invalidated) caches."""

    def __init__(
        self,
        dsn: str,
        *,
        gated: Sequence[ResultCache[Any]],
        always: Sequence[ResultCache[Any]] = (),
        ping_interval: float = 5.0,
        retry_interval: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.gated = list(gated)
        self.always = list(always)
        self.ping_interval = ping_interval
        self.retry_interval = retry_interval
        self.listening = False
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._up = asyncio.Event()

    def invalidate(self) -> None:
        for cache in (*self.gated, *self.always):
            cache.invalidate()

    def _set_listening(self, listening: bool) -> None:
        self.listening = listening
        for cache in self.gated:
            cache.set_enabled(listening)
        for cache in self.always:
            cache.invalidate()
        if listening:
            self._up.set()
        else:
            self._up.clear()

    def _on_notify(self, *_: object) -> None:
        self.invalidate()

    def _on_terminated(self, *_: object) -> None:
        self._lost.set()

    async def start(self) -> None:
        """Starts listening in the background; caches stay disabled until it is in place."""
        self._set_listening(False)
        self._task = asyncio.create_task(self._run(), name="catalog-listing-listener")

    async def wait_listening(self) -> None:
        await self._up.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()
        self._set_listening(False)

    async def drop_connection(self) -> None:
        """Closes the listening connection as a network failure would (tests, operations)."""
        if self._conn is not None:
            self._conn.terminate()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_until_lost()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused, reset, timeouts: retry
                log.warning("listing listener down, search cache bypassed: %s", exc)
            self._set_listening(False)
            await self._close()
            await asyncio.sleep(self.retry_interval)

    async def _listen_until_lost(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self.dsn, timeout=self.retry_interval * 5)
        self._conn = conn
        conn.add_termination_listener(self._on_terminated)
        await conn.add_listener(CHANNEL, self._on_notify)
        # LISTEN is in place: from here on every change is seen, so enabling (which empties the
        # caches once more) cannot keep anything a missed notification should have removed.
        self._set_listening(True)
        while not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.ping_interval)
            if self._lost.is_set() or conn.is_closed():
                break
            await conn.fetchval("SELECT 1", timeout=self.ping_interval)
        raise ConnectionError("listening connection closed")
