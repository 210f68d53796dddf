"""Webhook deliveries end to end: platform events in through the real consumer, real HTTP
receivers on loopback answering badly in each of the ways the issue lists, every signature
checked with ``standardwebhooks``."""

from __future__ import annotations

import asyncio

from aiohttp import web

from opscenter.contracts.manifest import HookSpec
from opscenter.hooks.testing import Call, Hooks, Receiver, device_created, tenant

DELIVERY = "SELECT status, attempts, last_status_code FROM deliveries"


def failing_then_ok(failures: int, status: int = 503):
    def behave(call: Call, n: int) -> web.Response:
        return web.Response(status=status if n <= failures else 200)

    return behave


async def test_a_receiver_failing_three_times_gets_the_fourth_attempt(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    url = receiver.on("flaky", failing_then_ok(3))
    _, plugin = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    receiver.verify_with = [await hooks.rotate(t, plugin)]
    event = device_created(t)
    await hooks.publish(event)
    async with hooks.dispatching():
        rows = await hooks.wait_for(DELIVERY, lambda r: r and r[0][0] == "succeeded")
    assert rows == [("succeeded", 4, 200)]
    calls = receiver.calls_to("flaky")
    assert len(calls) == 4
    assert len({c.headers["webhook-id"] for c in calls}) == 1, "one webhook-id for every retry"
    assert calls[0].body["id"] == event.id
    assert calls[0].body["type"] == "device.created"
    assert calls[0].body["data"]["device_id"] == "dev-1"
    assert receiver.bad_signatures == []
    attempts = await hooks.rows("SELECT attempt, outcome, status_code FROM delivery_attempts")
    assert sorted(attempts) == [
        (1, "failed", 503),
        (2, "failed", 503),
        (3, "failed", 503),
        (4, "succeeded", 200),
    ]
    types = await hooks.outbox_types()
    assert types.count("hooks.delivery.failed.v1") == 3
    assert types.count("hooks.delivery.succeeded.v1") == 1


async def test_the_receiver_gets_the_trace_of_the_event_it_is_sent(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    url = receiver.on("traced", failing_then_ok(0))
    _, plugin = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    receiver.verify_with = [await hooks.rotate(t, plugin)]
    trace_id = "5c0ffee0000000000000000000000001"
    # Only the envelope carries the trace here (the record has no headers): that is enough.
    await hooks.publish(device_created(t, traceparent=f"00-{trace_id}-00f067aa0ba902b7-01"))
    async with hooks.dispatching():
        await hooks.wait_for(DELIVERY, lambda r: r and r[0][0] == "succeeded")
    [call] = receiver.calls_to("traced")
    version, sent_trace, _, flags = call.headers["traceparent"].split("-")
    assert (version, sent_trace, flags) == ("00", trace_id, "01")


async def test_a_receiver_that_times_out_is_dead_lettered_after_the_last_attempt(
    hooks: Hooks, receiver: Receiver
):
    async def slow(call: Call, n: int) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(status=200)

    t = tenant()
    await hooks.enable(t, [HookSpec(name="device.created", url=receiver.on("slow", slow))])
    await hooks.publish(device_created(t))
    async with hooks.dispatching(webhook_timeout_s=0.3, breaker_threshold=100):
        rows = await hooks.wait_for(DELIVERY, lambda r: r and r[0][0] == "dead_lettered")
    assert rows == [("dead_lettered", 4, None)]
    errors = await hooks.rows("SELECT DISTINCT error FROM delivery_attempts")
    assert errors == [("timed out after 0.3s",)]
    assert (await hooks.outbox_types()).count("hooks.delivery.dead_lettered.v1") == 1


async def test_410_disables_the_endpoint_and_later_events_are_not_sent(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    url = receiver.on("gone", lambda call, n: web.Response(status=410))
    installation, _ = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    await hooks.publish(device_created(t, "dev-1"))
    async with hooks.dispatching():
        rows = await hooks.wait_for(DELIVERY, lambda r: r and r[0][0] == "failed")
        assert rows == [("failed", 1, 410)]
        await hooks.publish(device_created(t, "dev-2"))
        await asyncio.sleep(0.5)
    assert len(receiver.calls_to("gone")) == 1
    disabled = await hooks.rows(
        "SELECT endpoint_disabled FROM subscriptions WHERE installation_id = :i", i=installation
    )
    assert disabled == [(True,)]
    assert "hooks.endpoint.disabled.v1" in await hooks.outbox_types()
    assert len(await hooks.rows(DELIVERY)) == 1, "no delivery is owed to a disabled endpoint"


async def test_429_with_retry_after_waits_as_long_as_asked(hooks: Hooks, receiver: Receiver):
    def limited(call: Call, n: int) -> web.Response:
        if n == 1:
            return web.Response(status=429, headers={"Retry-After": "2"})
        return web.Response(status=200)

    t = tenant()
    await hooks.enable(t, [HookSpec(name="device.created", url=receiver.on("limited", limited))])
    await hooks.publish(device_created(t))
    async with hooks.dispatching():
        rows = await hooks.wait_for(DELIVERY, lambda r: r and r[0][0] == "succeeded")
    assert rows == [("succeeded", 2, 200)]
    first, second = receiver.calls_to("limited")
    # The schedule alone would retry after 0.3 s.
    assert second.at - first.at >= 1.9


async def test_a_receiver_that_is_down_opens_the_breaker_which_closes_when_it_is_back(
    hooks: Hooks, receiver: Receiver
):
    port = receiver.port
    url = receiver.on("health", lambda call, n: web.Response(status=200))
    await receiver.stop()  # down: connections are refused
    t = tenant()
    await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    await hooks.publish(*(device_created(t, f"dev-{i}") for i in range(5)))
    breaker = "SELECT state, consecutive_failures FROM endpoint_breakers"
    async with hooks.dispatching(retry_schedule_s=(0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2)):
        rows = await hooks.wait_for(breaker, lambda r: r and r[0][0] == "open")
        assert rows
        assert rows[0][0] == "open"
        assert "hooks.endpoint.breaker_opened.v1" in await hooks.outbox_types()
        attempts_when_open = len(await hooks.rows("SELECT 1 FROM delivery_attempts"))
        await asyncio.sleep(0.5)  # open: nothing is attempted before the probe time
        assert len(await hooks.rows("SELECT 1 FROM delivery_attempts")) == attempts_when_open
        await receiver.start(port)
        await hooks.wait_for(
            "SELECT status FROM deliveries WHERE status <> 'succeeded'", lambda r: not r
        )
    assert (await hooks.rows(breaker))[0][0] == "closed"
    types = await hooks.outbox_types()
    assert types.count("hooks.endpoint.breaker_opened.v1") == 1
    assert types.count("hooks.endpoint.breaker_closed.v1") == 1
    statuses = await hooks.rows("SELECT status FROM deliveries")
    assert statuses == [("succeeded",)] * 5


async def test_during_a_rotation_both_secrets_verify_every_delivery(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    url = receiver.on("rotating", lambda call, n: web.Response(status=204))
    _, plugin = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    old = await hooks.rotate(t, plugin)
    receiver.verify_with = [old]
    await hooks.publish(device_created(t, "dev-1"))
    async with hooks.dispatching():
        await hooks.wait_for(DELIVERY, lambda r: r and r[0][0] == "succeeded")
        new = await hooks.rotate(t, plugin)
        receiver.verify_with = [old, new]
        await hooks.publish(device_created(t, "dev-2"))
        await hooks.wait_for(
            DELIVERY, lambda r: len(r) == 2 and all(x[0] == "succeeded" for x in r)
        )
    assert len(receiver.calls_to("rotating")) == 2
    assert receiver.bad_signatures == []
    second = receiver.calls_to("rotating")[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 3, (
        "the first secret (never shown), the old and the new one all still sign"
    )
