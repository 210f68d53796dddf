"""Order per lane without head-of-line blocking, and several dispatchers at once."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from opscenter.contracts.manifest import HookSpec
from opscenter.hooks.testing import Call, Hooks, Receiver, device_created, tenant


async def test_a_failing_lane_holds_only_itself(hooks: Hooks, receiver: Receiver):
    def by_device(call: Call, n: int) -> web.Response:
        return web.Response(status=500 if call.body["data"]["device_id"] == "bad" else 200)

    t = tenant()
    url = receiver.on("lanes", by_device)
    await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    other_tenant = tenant()
    await hooks.enable(other_tenant, [HookSpec(name="device.created", url=url)])
    events = []
    for i in range(5):
        events += [
            device_created(t, "bad", name=f"b{i}"),
            device_created(t, "good", name=f"g{i}"),
            device_created(other_tenant, "fine", name=f"o{i}"),
        ]
    await hooks.publish(*events)
    async with hooks.dispatching(retry_schedule_s=(0, 30, 30)):
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'succeeded'", lambda r: len(r) == 10
        )
    received = [(c.body["tenant_id"], c.body["data"]["name"]) for c in receiver.calls_to("lanes")]
    good = [name for tenant_id, name in received if name.startswith("g")]
    assert good == [f"g{i}" for i in range(5)], "the good lane flowed, in order"
    bad = [name for tenant_id, name in received if name.startswith("b")]
    assert bad == ["b0"], "the failing lane waits for its head's retry"
    others = [name for tenant_id, name in received if tenant_id == other_tenant]
    assert others == [f"o{i}" for i in range(5)], "another installation is not held"


async def test_two_dispatchers_deliver_each_delivery_once_in_lane_order(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    url = receiver.on("two", lambda call, n: web.Response(status=200))
    await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    await hooks.publish(*(device_created(t, f"dev-{i % 7}", name=f"n{i}") for i in range(150)))
    # Leases long enough that none expires on a busy machine: a second send would then be
    # the at-least-once takeover (tested with SIGKILL), not two dispatchers taking one row.
    each = {"dispatch_batch_size": 10, "lease_s": 120.0}
    async with hooks.dispatching(**each), hooks.dispatching(**each):
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'succeeded'",
            lambda r: len(r) == 300,
            timeout_s=120,
        )
    calls = receiver.calls_to("two")
    ids = [c.headers["webhook-id"] for c in calls]
    assert len(ids) == 300
    assert len(set(ids)) == 300, "no delivery was sent twice"
    rows = await hooks.rows("SELECT id::text, installation_id::text FROM deliveries")
    installation_of = dict(rows)
    per_lane: dict[tuple[str, str], list[int]] = {}
    for c in calls:
        lane = (installation_of[c.headers["webhook-id"]], c.body["data"]["device_id"])
        per_lane.setdefault(lane, []).append(int(c.body["data"]["name"][1:]))
    assert len(per_lane) == 14
    for lane, order in per_lane.items():
        assert order == sorted(order), f"lane {lane} out of order: {order}"
    attempts = await hooks.rows("SELECT count(*) FROM delivery_attempts")
    assert attempts == [(300,)]


async def _quiet_p99(
    hooks: Hooks, receiver: Receiver, path: str, flood: int, per_tenant: int = 5
) -> float:
    """Event-to-receipt p99 (s) of nine quiet tenants' deliveries, with one more tenant
    publishing ``flood`` events first (queued ahead of them, as FIFO would serve them)."""
    url = receiver.on(path, lambda call, n: web.Response(status=200))
    quiet = [tenant() for _ in range(9)]
    loud = tenant()
    for t in [*quiet, loud]:
        await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    if flood:
        await hooks.publish(*(device_created(loud, f"l{i}") for i in range(flood)))
    await hooks.publish(*(device_created(t, f"q{i}") for i in range(per_tenant) for t in quiet))
    total = flood + 9 * per_tenant
    started = time.monotonic()
    async with hooks.dispatching(dispatch_concurrency=20, dispatch_batch_size=20):
        while len(receiver.calls_to(path)) < total and time.monotonic() - started < 120:
            await asyncio.sleep(0.02)
    quiet_set = set(quiet)
    latencies = sorted(
        c.at - started for c in receiver.calls_to(path) if c.body["tenant_id"] in quiet_set
    )
    assert len(latencies) == 9 * per_tenant
    return latencies[int(0.99 * (len(latencies) - 1))]


async def test_one_tenants_flood_does_not_starve_the_others(hooks: Hooks, receiver: Receiver):
    baseline = await _quiet_p99(hooks, receiver, "calm", flood=0, per_tenant=20)
    flooded = await _quiet_p99(hooks, receiver, "flood", flood=2000, per_tenant=20)
    # The flood is 100x each quiet tenant's 20 events, queued ahead of theirs. Served FIFO,
    # the quiet tenants would wait for all 2,000 first. (180 quiet deliveries, so the p99 is
    # not simply the slowest of a few.)
    print(f"quiet tenants' p99: {baseline * 1000:.0f} ms calm, {flooded * 1000:.0f} ms flooded")
    assert flooded <= 2 * baseline + 0.05, (baseline, flooded)
