"""The edge guard's cost per JSON request, beside a baseline measured in the same run.

    uv run python bench/edge_guard.py

The guard (servicekit.nul_guard) runs before routing on every request of every service. This
drives it directly (no server, no network) with typical bodies, and as baseline the same bodies
through a middleware that only collects and replays the body (what any body-reading middleware
costs). A calibration line times a fixed pure-Python loop, so runs on machines of other speeds
compare. Results: bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from opscenter.servicekit.nul_guard import RejectNulMiddleware

ROUNDS = 20_000


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class _CollectOnly:
    """Baseline: reads the whole body and replays it, nothing else."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        body = message.get("body", b"")

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/plugins/install",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def _time(app: Any, body: bytes) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        return None

    scope = _scope(body)
    start = time.perf_counter()
    for _ in range(ROUNDS):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - start) / ROUNDS * 1e6


def _calibration() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i % 7
    return time.perf_counter() - start


BODIES = {
    "install (small)": {"plugin": "grafana-panels", "config": {"url": "https://x", "n": 3}},
    "config 40 keys, non-ASCII escaped": {
        "config": {f"k{i}": f"wert-{i}-\u00e9\u00fc" for i in range(40)}
    },
    "nested 20 deep": {"config": json.loads('{"a":' * 20 + "1" + "}" * 20)},
    "list of 300 objects": {"config": {"items": [{"id": i} for i in range(300)]}},
}


async def main() -> None:
    print(f"calibration: 2M-step pure-Python loop {_calibration():.3f} s")
    guard = RejectNulMiddleware(_inner)
    baseline = _CollectOnly(_inner)
    for name, value in BODIES.items():
        body = json.dumps(value).encode()  # ensure_ascii: escapes, as Python clients send
        base = await _time(baseline, body)
        guarded = await _time(guard, body)
        print(
            f"{name:36s} {len(body):6d} B  guard {guarded:7.1f} us  "
            f"baseline {base:6.1f} us  extra {guarded - base:6.1f} us"
        )


if __name__ == "__main__":
    asyncio.run(main())
