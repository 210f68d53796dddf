"""Answer caches of one API process kept right by Postgres ``LISTEN``/``NOTIFY`` (ADR 0008, 0016).

The rule a service keeps: whatever changes a cached answer runs ``pg_notify(<channel>, ...)`` in
the writing transaction (a trigger on the tables the answer reads, so every code path, ``COPY``
or hand-written ``UPDATE`` notifies). NOTIFY is transactional: it is delivered when, and only
if, the write commits.

- **Who listens**: ``NotifyListener``, one dedicated asyncpg connection per process (outside the
  pool) that ``LISTEN``s; every notification invalidates its caches (bumps their generation).
- **While not listening** (not yet connected, connection lost, reconnecting) the ``gated`` caches
  are disabled: emptied and bypassed until ``LISTEN`` is in place again, so a missed
  notification can never leave a stale answer behind. A silently dead connection is found by a
  ping every ``ping_interval`` seconds.
- **Reading one's own write**: ``InvalidateOnWrite`` empties this process's caches when a write
  it handled succeeds, before the answer leaves, so the writer's next read (on this process)
  sees it without waiting for the notification's round trip; other processes follow on the
  notification (milliseconds after the commit).
- **Hits skip everything**: ``CachedGetFastPath``, an outermost ASGI middleware, answers a fresh
  hit before routing (no validation, SQL, pydantic or span). Misses go through the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

import asyncpg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opscenter.servicekit.result_cache import ResultCache

log = logging.getLogger(__name__)


class NotifyListener:
    """Keeps ``LISTEN <channel>`` open and drives ``gated`` (enabled only while listening) and
    ``always`` (merely invalidated) caches."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        *,
        gated: Sequence[ResultCache[Any]],
        always: Sequence[ResultCache[Any]] = (),
        ping_interval: float = 5.0,
        retry_interval: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.channel = channel
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
        """Starts listening in the background; gated caches stay disabled until it is in place."""
        self._set_listening(False)
        self._task = asyncio.create_task(self._run(), name=f"listener-{self.channel}")

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
                log.warning("%s listener down, its caches bypassed: %s", self.channel, exc)
            self._set_listening(False)
            await self._close()
            await asyncio.sleep(self.retry_interval)

    async def _listen_until_lost(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self.dsn, timeout=self.retry_interval * 5)
        self._conn = conn
        conn.add_termination_listener(self._on_terminated)
        await conn.add_listener(self.channel, self._on_notify)
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


class BodyEntry(Protocol):
    """A cached answer the fast path can send: its JSON response body."""

    @property
    def body(self) -> bytes: ...


def hit_messages(body: bytes, header: str) -> tuple[Message, Message]:
    """The ASGI messages of a cached JSON answer, marked ``<header>: hit``."""
    return (
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (header.encode(), b"hit"),
            ],
        },
        {"type": "http.response.body", "body": body},
    )


class CachedGetFastPath:
    """Answers a fresh hit of ``cache`` before the app runs. ``key_of(scope)`` is the request's
    cache key, or None for a request the fast path must leave to the app (another route, a
    caller whose answer may differ)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cache: ResultCache[Any],
        key_of: Callable[[Scope], Hashable | None],
        header: str,
        on_hit: Callable[[], object] | None = None,
    ) -> None:
        self.app = app
        self.cache = cache
        self.key_of = key_of
        self.header = header
        self.on_hit = on_hit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and self.cache.enabled:
            key = self.key_of(scope)
            entry: BodyEntry | None = None if key is None else self.cache.peek(key)
            if entry is not None:
                if self.on_hit is not None:
                    self.on_hit()
                start, content = hit_messages(entry.body, self.header)
                await send(start)
                await send(content)
                return
        await self.app(scope, receive, send)


_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class InvalidateOnWrite:
    """Empties ``listener``'s caches when a write this process handled succeeds, before its
    answer leaves. Refused writes (4xx, 5xx) rolled back and leave the caches alone, so junk
    POSTs cannot keep flushing them."""

    def __init__(self, app: ASGIApp, *, listener: NotifyListener) -> None:
        self.app = app
        self.listener = listener

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE:
            await self.app(scope, receive, send)
            return

        async def send_after_invalidating(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                self.listener.invalidate()  # the write has committed by now
            await send(message)

        await self.app(scope, receive, send_after_invalidating)
