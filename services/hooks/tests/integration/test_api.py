"""The hooks API over HTTP (ASGI): the hook-event catalog, deliveries with every attempt,
who may see them, replays with Idempotency-Key, secret rotation and the endpoint."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from aiohttp import web

from opscenter.contracts import PluginVersionPublishedV1, new_event
from opscenter.contracts.hook_events import HOOK_EVENTS
from opscenter.contracts.manifest import HookSpec
from opscenter.hooks.testing import Hooks, Receiver, device_created, tenant
from opscenter.hooks.tokens import InstallationTokens


async def test_the_hook_event_catalog_lists_every_event_with_its_permission(hooks: Hooks):
    r = await hooks.api.get("/api/v1/hooks/events")
    assert r.status_code == 200
    items = {e["name"]: e for e in r.json()["items"]}
    assert set(items) == set(HOOK_EVENTS)
    assert items["device.created"]["permission"] == "api:devices:read"
    assert items["tenant.created"]["permission"] is None
    assert items["user.login"]["example"]["user_id"] == "user-17"


async def _published(hooks: Hooks, plugin: uuid.UUID, publisher: str) -> None:
    example = PluginVersionPublishedV1.example()
    payload = example.model_copy(update={"plugin_id": plugin, "publisher_id": publisher})
    await hooks.feed("hooks.plugins", [new_event(payload, source="/tests").to_json_bytes()])


async def test_deliveries_are_listed_with_attempts_to_their_tenant_admin_and_developer_only(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    url = receiver.on("api", lambda call, n: web.Response(status=500 if n == 1 else 200))
    _, plugin = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    await _published(hooks, plugin, "pub-1")
    other_tenant = tenant()
    await hooks.enable(other_tenant, [HookSpec(name="device.created", url=url)], plugin_id=plugin)
    await hooks.publish(*(device_created(t, f"d{i}") for i in range(3)))
    await hooks.publish(device_created(other_tenant, "x"))
    async with hooks.dispatching():
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'succeeded'", lambda r: len(r) == 4
        )
    path = f"/api/v1/plugins/{plugin}/hooks/deliveries"
    admin = hooks.token(t, "tenant_admin")
    r = await hooks.api.get(path, headers=admin)
    assert r.status_code == 200, r.text
    page = r.json()
    assert len(page["items"]) == 3, "only the admin's tenant"
    assert page["next_cursor"] is None
    first_of_lane = next(i for i in page["items"] if len(i["attempt_log"]) == 2)
    assert [a["status_code"] for a in first_of_lane["attempt_log"]] == [500, 200]
    assert first_of_lane["status"] == "succeeded"

    developer = hooks.token(None, "developer", publisher_id="pub-1")
    r = await hooks.api.get(path, headers=developer)
    assert len(r.json()["items"]) == 4, "the developer sees every tenant's"

    paged, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        r = await hooks.api.get(path, headers=developer, params=params)
        paged += [i["id"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert sorted(paged) == sorted(
        i["id"] for i in (await hooks.api.get(path, headers=developer)).json()["items"]
    )
    assert len(paged) == 4

    r = await hooks.api.get(path, headers=admin, params={"status": "pending"})
    assert r.json()["items"] == []
    r = await hooks.api.get(path, headers=admin, params={"event_type": "user.login"})
    assert r.json()["items"] == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await hooks.api.get(path, headers=admin, params={"since": future})
    assert r.json()["items"] == []

    for headers in (
        hooks.token(tenant(), "tenant_admin"),
        hooks.token(None, "developer", publisher_id="pub-other"),
        hooks.token(t, "developer", publisher_id="pub-other"),
    ):
        r = await hooks.api.get(path, headers=headers)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == "application/problem+json"
    r = await hooks.api.get(path, headers=hooks.token(t, "member"))
    assert r.status_code == 403
    r = await hooks.api.get(path)
    assert r.status_code == 401


async def test_bad_query_input_answers_422_naming_the_field(hooks: Hooks):
    t = tenant()
    _, plugin = await hooks.enable(t, [HookSpec(name="device.created", url="http://x.test/")])
    admin = hooks.token(t, "tenant_admin")
    base = f"/api/v1/plugins/{plugin}/hooks"
    cases = [
        (f"{base}/deliveries", {"status": "exploded"}, "query.status"),
        (f"{base}/deliveries", {"cursor": "!!!"}, "query.cursor"),
        (f"{base}/deliveries", {"limit": "0"}, "query.limit"),
        (f"{base}/deliveries", {"since": "2026-01-01T00:00:00"}, "query.since"),
        (f"{base}/deliveries", {"since": "yesterday"}, "query.since"),
    ]
    for path, params, field in cases:
        r = await hooks.api.get(path, headers=admin, params=params)
        assert r.status_code == 422, (params, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], r.text
    r = await hooks.api.get("/api/v1/plugins/not-a-uuid/hooks/deliveries", headers=admin)
    assert r.status_code == 422
    for body, field in (
        ({"since": "2026-01-01T00:00:00Z", "status": "nope"}, "body.status"),
        ({"until": "2026-01-01T00:00:00Z"}, "body.since"),
        ({"since": "2026-01-01T00:00:00Z", "extra": 1}, "body.extra"),
    ):
        r = await hooks.api.post(f"{base}/replay", headers=admin, json=body)
        assert r.status_code == 422, r.text
        assert field in [e["field"] for e in r.json()["errors"]], r.text
    r = await hooks.api.post(f"{base}/replay", headers=admin, content=b"{not json")
    assert r.status_code == 422
    r = await hooks.api.put(f"{base}/endpoint", headers=admin, json={"url": "ftp://x"})
    assert r.status_code == 422
    assert "body.url" in [e["field"] for e in r.json()["errors"]]


async def test_replay_one_and_a_window_with_idempotency(hooks: Hooks, receiver: Receiver):
    t = tenant()
    url = receiver.on("replay", lambda call, n: web.Response(status=200))
    _, plugin = await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    await hooks.publish(*(device_created(t, f"d{i}") for i in range(3)))
    admin = hooks.token(t, "tenant_admin")
    base = f"/api/v1/plugins/{plugin}/hooks"
    done = "SELECT 1 FROM deliveries WHERE status = 'succeeded'"
    async with hooks.dispatching():
        await hooks.wait_for(done, lambda r: len(r) == 3)
        (delivery_id,) = (await hooks.rows("SELECT id FROM deliveries LIMIT 1"))[0]
        key = {"Idempotency-Key": "replay-1"}
        r1 = await hooks.api.post(
            f"{base}/deliveries/{delivery_id}/replay", headers={**admin, **key}
        )
        assert r1.status_code == 202, r1.text
        assert r1.json()["status"] == "pending"
        r2 = await hooks.api.post(
            f"{base}/deliveries/{delivery_id}/replay", headers={**admin, **key}
        )
        assert r2.status_code == 202
        assert r2.headers.get("idempotent-replay") == "true"
        await hooks.wait_for("SELECT 1 FROM delivery_attempts", lambda r: len(r) == 4)
        await hooks.wait_for(done, lambda r: len(r) == 3)
        assert len(receiver.calls_to("replay")) == 4, "replayed once despite two requests"

        since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        body = {"since": since, "status": "succeeded"}
        r = await hooks.api.post(
            f"{base}/replay", headers={**admin, "Idempotency-Key": "w1"}, json=body
        )
        assert r.status_code == 202, r.text
        assert r.json() == {"count": 3}
        await hooks.wait_for("SELECT 1 FROM delivery_attempts", lambda r: len(r) == 7)
        await hooks.wait_for(done, lambda r: len(r) == 3)
    assert len(receiver.calls_to("replay")) == 7
    r = await hooks.api.post(f"{base}/deliveries/{uuid.uuid4()}/replay", headers=admin)
    assert r.status_code == 404
    r = await hooks.api.post(
        f"{base}/deliveries/{delivery_id}/replay", headers=hooks.token(tenant(), "tenant_admin")
    )
    assert r.status_code == 404, "another tenant's delivery"


async def test_the_endpoint_can_be_set_and_secrets_are_only_for_the_tenant_admin(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    _, plugin = await hooks.enable(t, [HookSpec(name="device.created", url="http://x.test/")])
    admin = hooks.token(t, "tenant_admin")
    base = f"/api/v1/plugins/{plugin}/hooks"
    r = await hooks.api.put(f"{base}/endpoint", headers=admin, json={"url": receiver.url("set")})
    assert r.status_code == 200, r.text
    assert r.json()["endpoint_url"] == receiver.url("set")
    receiver.verify_with = [await hooks.rotate(t, plugin)]
    await hooks.publish(device_created(t))
    async with hooks.dispatching():
        await hooks.wait_for("SELECT 1 FROM deliveries WHERE status = 'succeeded'", bool)
    assert len(receiver.calls_to("set")) == 1
    assert receiver.bad_signatures == []
    for headers, status in (
        (hooks.token(t, "member"), 403),
        (hooks.token(tenant(), "tenant_admin"), 404),
    ):
        r = await hooks.api.post(f"{base}/secret/rotate", headers=headers)
        assert r.status_code == status, r.text
    stored = await hooks.rows("SELECT ciphertext FROM webhook_secrets")
    assert all(receiver.verify_with[0] not in c for (c,) in stored), "encrypted at rest"


async def test_every_delivery_carries_an_installation_token_verified_by_the_jwks(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    url = receiver.on("token", lambda call, n: web.Response(status=200))
    granted = ["api:devices:read", "storage:write", "cron:schedule", "api:users:write"]
    installation, plugin = await hooks.enable(
        t, [HookSpec(name="device.created", url=url)], granted
    )
    await hooks.publish(device_created(t))
    async with hooks.dispatching():
        await hooks.wait_for("SELECT 1 FROM deliveries WHERE status = 'succeeded'", bool)
    (call,) = receiver.calls_to("token")
    token = call.headers["x-opscenter-installation-token"]
    jwks = (await hooks.api.get("/api/v1/hooks/jwks.json")).json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="opscenter-api")
    assert claims["sub"] == f"installation:{installation}"
    assert claims["tenant_id"] == t
    assert claims["plugin_id"] == str(plugin)
    assert claims["scope"].split() == ["api:devices:read", "api:users:write"]
    assert 0 < claims["exp"] - claims["iat"] <= 300
    other = InstallationTokens("another-seed", 300).mint(installation, t, plugin, granted)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(other, key.key, algorithms=["EdDSA"], audience="opscenter-api")
