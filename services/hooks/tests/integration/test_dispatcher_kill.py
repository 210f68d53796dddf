"""SIGKILL of a dispatcher process mid-delivery loses nothing: its leases expire, another
dispatcher takes them, and every delivery reaches the receiver at least once (the ones sent
but not yet recorded at the kill may arrive twice, as the same message with the same
webhook-id)."""

from __future__ import annotations

import asyncio
import signal
import subprocess

from aiohttp import web

from opscenter.contracts.manifest import HookSpec
from opscenter.hooks.testing import (
    Call,
    Hooks,
    Receiver,
    device_created,
    dispatcher_process,
    tenant,
)


def start_dispatcher(hooks: Hooks) -> subprocess.Popen[bytes]:
    return dispatcher_process(hooks, HOOKS_LEASE_S="2", HOOKS_DISPATCH_CONCURRENCY="4")


async def test_sigkill_mid_delivery_loses_nothing(hooks: Hooks, receiver: Receiver):
    async def slow(call: Call, n: int) -> web.Response:
        await asyncio.sleep(0.3)
        return web.Response(status=200)

    t = tenant()
    url = receiver.on("kill", slow)
    await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    await hooks.publish(*(device_created(t, f"d{i}") for i in range(30)))
    first = start_dispatcher(hooks)
    try:
        for _ in range(1200):
            if len(receiver.calls_to("kill")) >= 6:
                break
            await asyncio.sleep(0.05)
        assert len(receiver.calls_to("kill")) >= 6, "the first dispatcher never got going"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        done_at_kill = await hooks.rows("SELECT 1 FROM deliveries WHERE status = 'succeeded'")
        assert len(done_at_kill) < 30, "killed mid-flight"
        second = start_dispatcher(hooks)
        try:
            rows = await hooks.wait_for(
                "SELECT 1 FROM deliveries WHERE status = 'succeeded'",
                lambda r: len(r) == 30,
                timeout_s=60,
            )
        finally:
            second.terminate()
            second.wait(20)
        assert second.returncode == 0, "SIGTERM stops a dispatcher cleanly"
    finally:
        if first.poll() is None:
            first.kill()
    assert len(rows) == 30
    ids = {i for (i,) in await hooks.rows("SELECT id::text FROM deliveries")}
    received = [c.headers["webhook-id"] for c in receiver.calls_to("kill")]
    assert set(received) == ids, "every delivery arrived"
    # Sent twice: what the killed dispatcher had sent but not yet recorded. Each copy is the
    # same message under the same webhook-id, so a receiver drops it.
    bodies: dict[str, dict[str, object]] = {}
    for c in receiver.calls_to("kill"):
        assert bodies.setdefault(c.headers["webhook-id"], c.body) == c.body
    assert len(received) - len(ids) < len(ids) // 2
