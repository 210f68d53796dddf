"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that verifies every call's
signature with the ``standardwebhooks`` library and answers as each test tells it (the hooks
service's tests, the faults tier and the end-to-end story use it)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


Behaviour = Callable[[Call, int], Awaitable[web.StreamResponse] | web.StreamResponse]


class Receiver:
    """A webhook endpoint. ``behave(call, n)`` answers the n-th call (from 1) of a path;
    every call is verified with each secret in ``verify_with`` (a call that fails any is
    recorded in ``bad_signatures``)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.bad_signatures: list[str] = []
        self.verify_with: list[str] = []
        self.behaviours: dict[str, Behaviour] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def on(self, path: str, behave: Behaviour) -> str:
        self.behaviours[path] = behave
        return self.url(path)

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = dict(request.headers)
        for secret in self.verify_with:
            try:
                Webhook(secret).verify(raw, headers)
            except Exception as exc:
                self.bad_signatures.append(f"{secret[:10]}: {exc}")
        path = request.match_info["path"]
        call = Call(path, headers, json.loads(raw), time.monotonic())
        self.calls.append(call)
        behave = self.behaviours.get(path, ok)
        answer = behave(call, len(self.calls_to(path)))
        if asyncio.iscoroutine(answer):
            answer = await answer
        assert isinstance(answer, web.StreamResponse)
        return answer


def ok(call: Call, n: int) -> web.StreamResponse:
    return web.Response(status=200)
