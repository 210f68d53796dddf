"""A developer publishes two signed plugins, a tenant admin installs one (its dependency comes
along), another tenant sees nothing of it, and a platform admin bans it: every step through the
gateway, with the catalog and the installer talking only through Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from opscenter.catalog.testing import manifest, publish_through_gateway
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings

SETTINGS = ServiceSettings()  # the suite's services share the local signing secret


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(SETTINGS, **claims)}"}


def e2e_manifest(slug: str, deps: dict[str, str]) -> dict[str, Any]:
    """A webhook plugin (no code runs in the suite) with a secret in its config."""
    return manifest(
        slug,
        dependencies={"plugins": deps},
        hooks=[{"name": "device.created", "url": "https://hooks.example.com/in"}],
        config_schema={
            "type": "object",
            "properties": {"api_key": {"type": "string", "secret": True}},
            "required": ["api_key"],
        },
    )


async def eventually(
    check: Callable[[], Awaitable[httpx.Response]],
    accept: Callable[[httpx.Response], bool],
    *,
    timeout_s: float = 60.0,
) -> httpx.Response:
    """Polls until `accept` holds (the services converge through Kafka), or returns the last
    answer so the assertion that follows shows what was there."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        answer = await check()
        if accept(answer) or asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(0.25)


async def test_publish_install_isolate_and_ban(gateway: httpx.AsyncClient):
    run = uuid.uuid4().hex[:8]
    publisher = bearer(sub=f"dev-{run}", roles=["developer"], publisher_id=f"pub-{run}")
    tenant_a, tenant_b = f"tenant-a-{run}", f"tenant-b-{run}"
    admin_a = bearer(sub=f"admin-a-{run}", tenant_id=tenant_a, roles=["tenant_admin"])
    admin_b = bearer(sub=f"admin-b-{run}", tenant_id=tenant_b, roles=["tenant_admin"])
    platform = bearer(sub=f"ops-{run}", roles=["platform_admin"])
    lib, app = f"e2e-lib-{run}", f"e2e-app-{run}"

    # The developer registers a signing key, a plugin and uploads its signed package, twice.
    for slug, deps in ((lib, {}), (app, {lib: "^1.0.0"})):
        await publish_through_gateway(gateway, publisher, e2e_manifest(slug, deps))

    # Anyone finds it in the marketplace; the package comes with its digest.
    r = await gateway.get("/api/v1/plugins/marketplace", params={"q": app})
    assert r.status_code == 200
    assert app in [item["slug"] for item in r.json()["items"]]
    r = await gateway.get(f"/api/v1/plugins/marketplace/{app}/versions/1.0.0/package")
    assert r.status_code == 200
    assert r.headers["x-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    # The installer's content-addressed artifact path is not public.
    assert (await gateway.get(f"/api/v1/artifacts/sha256/{'0' * 64}")).status_code == 404

    # Tenant A installs the app; the plan brings its dependency first. The installer learns the
    # catalog from events, so the dry run succeeds once the projection has caught up.
    body = {
        "plugin": app,
        "config": {"api_key": "s3cr3t-value"},
        "dependency_config": {lib: {"api_key": "lib-secret"}},
        "accept_permissions": ["api:devices:read"],
    }
    r = await eventually(
        lambda: gateway.post(
            "/api/v1/plugins/install", json={**body, "dry_run": True}, headers=admin_a
        ),
        lambda a: a.status_code == 200,
    )
    assert r.status_code == 200, r.text
    assert r.text.index(lib) < r.text.index(app)  # dependencies come first in the plan
    r = await gateway.post(
        "/api/v1/plugins/install", json=body, headers={**admin_a, "Idempotency-Key": run}
    )
    assert r.status_code == 202, r.text
    replay = await gateway.post(
        "/api/v1/plugins/install", json=body, headers={**admin_a, "Idempotency-Key": run}
    )
    assert (replay.status_code, replay.json()) == (202, r.json())

    r = await eventually(
        lambda: gateway.get(f"/api/v1/plugins/{app}/installation", headers=admin_a),
        lambda a: a.status_code == 200 and a.json()["state"] == "enabled",
    )
    installation = r.json()
    assert installation["state"] == "enabled", installation
    assert installation["config"]["api_key"] == "********"
    assert "s3cr3t-value" not in r.text
    assert [h["to_state"] for h in installation["history"]][-1] == "enabled"
    installed = (await gateway.get("/api/v1/plugins/installed", headers=admin_a)).json()["items"]
    assert {i["plugin"]: i["state"] for i in installed} == {lib: "enabled", app: "enabled"}

    # Tenant B sees none of tenant A's installations: 404, not 403.
    r = await gateway.get(f"/api/v1/plugins/{app}/installation", headers=admin_b)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    r = await gateway.post(f"/api/v1/plugins/{app}/disable", headers=admin_b)
    assert r.status_code == 404
    assert (await gateway.get("/api/v1/plugins/installed", headers=admin_b)).json()["items"] == []

    # The catalog counts the installation from the installer's events.
    r = await eventually(
        lambda: gateway.get(f"/api/v1/plugins/marketplace/{app}"),
        lambda a: a.status_code == 200 and a.json()["install_count"] >= 1,
    )
    assert r.json()["install_count"] == 1

    # A tenant admin cannot ban; a platform admin can, and every installation is disabled.
    assert (
        await gateway.delete(
            f"/api/v1/admin/plugins/{app}/ban", params={"reason": "x"}, headers=admin_a
        )
    ).status_code == 403
    r = await gateway.delete(
        f"/api/v1/admin/plugins/{app}/ban", params={"reason": "exfiltrates data"}, headers=platform
    )
    assert r.status_code == 200, r.text
    r = await gateway.get(f"/api/v1/plugins/marketplace/{app}")
    assert r.status_code == 410
    assert "exfiltrates data" in r.json()["detail"]
    r = await eventually(
        lambda: gateway.get(f"/api/v1/plugins/{app}/installation", headers=admin_a),
        lambda a: a.json()["state"] == "disabled",
    )
    assert (r.json()["state"], r.json()["reason"]) == ("disabled", "banned")
