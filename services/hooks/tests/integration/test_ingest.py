"""Platform events in: refusals to the DLQ (and the consumer keeps going), duplicates fanned
out once, deliveries only to enabled subscriptions whose hooks and grant cover the event,
cancellation when an installation is disabled, and a plugin ban."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from prometheus_client import REGISTRY

from opscenter.contracts import CloudEvent, PluginBannedV1, new_event
from opscenter.contracts.manifest import HookSpec
from opscenter.contracts.platform import UserLoginV1
from opscenter.hooks.testing import Hooks, Receiver, device_created, tenant


def _rejected(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "consumer_events_rejected_total",
        {"consumer": "hooks.platform-events", "reason": reason},
    )
    return value or 0.0


async def test_bad_platform_events_go_to_the_dlq_with_their_reason_and_the_rest_flows(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    await hooks.enable(t, [HookSpec(name="device.created", url=receiver.url("ok"))])
    good = device_created(t, "dev-good")
    unknown = CloudEvent(source="/x", type="device.exploded", tenantid=t, data={"tenant_id": t})
    v2 = CloudEvent(source="/x", type="device.created.v2", tenantid=t, data={"tenant_id": t})
    no_tenant = CloudEvent(
        source="/x", type="device.created", data=json.loads(good.to_json_bytes())["data"]
    )
    invalid = CloudEvent(source="/x", type="device.created", tenantid=t, data={"tenant_id": t})
    other_tenant = CloudEvent(
        source="/x",
        type="device.created",
        tenantid="t-someone-else",
        data=json.loads(good.to_json_bytes())["data"],
    )
    before = {r: _rejected(r) for r in ("oversized", "not-a-cloudevent", "unknown-type")}
    oversized = b'{"x": "' + b"a" * (hooks.settings.max_event_bytes + 1) + b'"}'
    await hooks.feed(
        "hooks.platform-events",
        [
            b"not json at all",
            b'{"specversion": "1.0", "id": "1"}',
            oversized,
            unknown.to_json_bytes(),
            v2.to_json_bytes(),
            no_tenant.to_json_bytes(),
            invalid.to_json_bytes(),
            other_tenant.to_json_bytes(),
            good.to_json_bytes(),
        ],
    )
    errors = [h["dlq-error"] for _, h in hooks.dead_letters.records]
    assert len(errors) == 8, errors
    assert "not valid JSON" in errors[0]
    assert "invalid CloudEvent" in errors[1]
    assert "bytes >" in errors[2]
    assert "device.exploded" in errors[3]
    assert "device.created.v2" in errors[4]
    assert "no tenantid" in errors[5]
    assert "invalid device.created payload" in errors[6]
    assert "tenantid differs" in errors[7]
    assert _rejected("oversized") == before["oversized"] + 1
    assert _rejected("not-a-cloudevent") == before["not-a-cloudevent"] + 2
    assert _rejected("unknown-type") == before["unknown-type"] + 2
    rows = await hooks.rows("SELECT event_id FROM deliveries")
    assert rows == [(good.id,)], "the good event after the bad ones was fanned out"


async def test_a_duplicate_cloudevent_from_the_same_source_is_delivered_once(hooks: Hooks):
    t = tenant()
    await hooks.enable(t, [HookSpec(name="device.created", url="http://127.0.0.1:9/x")])
    first = device_created(t, "dev-1")
    again = device_created(t, "dev-1", event_id=first.id)
    elsewhere = CloudEvent.model_validate(
        {**json.loads(first.to_json_bytes()), "source": "/platform/other"}
    )
    await hooks.publish(first, again)
    await hooks.publish(again)
    await hooks.publish(elsewhere)
    rows = await hooks.rows("SELECT event_source, event_id FROM deliveries ORDER BY seq")
    assert rows == [("/platform/devices", first.id), ("/platform/other", first.id)]


async def test_only_enabled_subscriptions_with_a_matching_hook_and_grant_are_owed(hooks: Hooks):
    t = tenant()
    url = "http://127.0.0.1:9/x"
    devices, _ = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    users_only, _ = await hooks.enable(
        t, [HookSpec(name="user.login", url=url)], ["api:users:read"]
    )
    ungranted, _ = await hooks.enable(t, [HookSpec(name="device.created", url=url)], [])
    handler, _ = await hooks.enable(t, [HookSpec(name="device.created", handler="h.m:f")])
    off, off_plugin = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    await hooks.disable(t, off, off_plugin)
    elsewhere, _ = await hooks.enable(tenant(), [HookSpec(name="device.created", url=url)])
    await hooks.publish(device_created(t))
    login = new_event(UserLoginV1(tenant_id=t, user_id="u1", email="a@b.co"), source="/users")
    await hooks.publish(login)
    rows = await hooks.rows("SELECT installation_id, event_type, target FROM deliveries")
    assert sorted(rows) == sorted(
        [
            (devices, "device.created", "webhook"),
            (users_only, "user.login", "webhook"),
            (handler, "device.created", "handler"),
        ]
    )
    assert not {ungranted, off, elsewhere} & {r[0] for r in rows}


async def test_disabling_cancels_pending_retries_and_a_ban_cancels_too(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    url = receiver.on("down", lambda call, n: web.Response(status=500))
    installation, plugin = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    banned_inst, banned_plugin = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    await hooks.publish(device_created(t))
    async with hooks.dispatching(retry_schedule_s=(0, 60, 60)):
        await hooks.wait_for("SELECT 1 FROM deliveries WHERE attempts = 1", lambda r: len(r) == 2)
        await hooks.disable(t, installation, plugin)
        ban = new_event(
            PluginBannedV1(plugin_id=banned_plugin, slug="watcher", reason="bad"),
            source="/tests",
        )
        await hooks.feed("hooks.plugins", [ban.to_json_bytes()])
        await hooks.publish(device_created(t, "dev-2"))
        await asyncio.sleep(0.3)
    rows = await hooks.rows("SELECT installation_id, status FROM deliveries ORDER BY seq")
    assert sorted(rows) == sorted([(installation, "cancelled"), (banned_inst, "cancelled")])
    assert len(receiver.calls_to("down")) == 2


async def test_fields_outside_the_payload_model_never_reach_the_plugin(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    await hooks.enable(t, [HookSpec(name="device.created", url=receiver.url("trim"))])
    event = device_created(t)
    leaky = CloudEvent.model_validate(
        {
            **json.loads(event.to_json_bytes()),
            "data": {**event.data, "root_password": "hunter2"},
        }
    )
    await hooks.publish(leaky)
    async with hooks.dispatching():
        await hooks.wait_for("SELECT 1 FROM deliveries WHERE status = 'succeeded'", bool)
    (call,) = receiver.calls_to("trim")
    assert "root_password" not in call.body["data"]
    assert call.body["data"]["name"] == "edge-1"
