"""Order per lane without head-of-line blocking, and several dispatchers at once."""

from __future__ import annotations

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
    async with hooks.dispatching(dispatch_batch_size=10), hooks.dispatching(dispatch_batch_size=10):
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'succeeded'", lambda r: len(r) == 300
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
