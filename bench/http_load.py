"""What the benches that drive a service over HTTP share (imported by them as scripts)."""

from __future__ import annotations

import asyncio
import socket

import aiohttp


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_ready(client: aiohttp.ClientSession, timeout_s: float = 30.0) -> None:
    """Until the service behind ``client`` (its base URL) answers ``/readyz`` with 200."""
    for _ in range(int(timeout_s / 0.1)):
        try:
            async with client.get("/readyz") as ready:
                if ready.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the service did not become ready")
