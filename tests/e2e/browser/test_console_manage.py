"""The dashboard's manage view in a real browser: a tenant admin edits an installation's
configuration (secrets stay masked and kept), upgrades it consenting only to the permission the
new version adds, reads the uninstall warning that names its dependents, reads the delivery log
with every attempt, replays one delivery and a window, and rotates the webhook secret (shown
once). Every page is saved at desktop and narrow widths and checked with axe."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from playwright.async_api import expect

from opscenter.catalog.testing import Signer, manifest, package
from opscenter.contracts.platform import DeviceCreatedV1
from opscenter.contracts.publisher import PlatformEventPublisher
from opscenter.servicekit.testing import LocalStack

from .conftest import DESKTOP, NARROW, OpenContext, Shoot
from .test_console import CONVERGE_MS, bearer, install, register, until_installable

CONFIG_SCHEMA = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "title": "API key", "secret": True},
        "region": {"type": "string", "title": "Region", "enum": ["eu", "us"], "default": "eu"},
    },
    "required": ["api_key"],
}


async def developer_with_key(gateway: httpx.AsyncClient, run: str) -> tuple[dict[str, str], Signer]:
    """A developer whose publisher has a signing key (installs need signed packages)."""
    developer = bearer(sub=f"dev-{run}", roles=["developer"], publisher_id=f"pub-{run}")
    signer = Signer()
    r = await gateway.post(
        "/api/v1/plugins/publishers/me/keys",
        json={"public_key": signer.public_b64},
        headers=developer,
    )
    assert r.status_code == 201, r.text
    return developer, signer


async def upload(
    gateway: httpx.AsyncClient, developer: tuple[dict[str, str], Signer], blob: bytes
) -> None:
    headers, signer = developer
    r = await gateway.post(
        "/api/v1/plugins/upload",
        files={"package": ("p.tar.gz", blob, "application/gzip")},
        data={"signature": signer.sign(blob)},
        headers=headers,
    )
    assert r.status_code == 201, r.text


async def narrow_shots(open_context: OpenContext, shoot: Shoot, token: str, pages: list) -> None:
    phone = await (await open_context(NARROW, token=token)).new_page()
    for path, name, ready in pages:
        await phone.goto(path)
        await expect(ready(phone)).to_be_visible()
        await expect(phone.get_by_role("status")).to_have_count(0)  # nothing still loading
        await shoot(phone, name)


async def test_config_upgrade_and_uninstall_warning_on_the_dashboard(
    gateway: httpx.AsyncClient, open_context: OpenContext, shoot: Shoot
):
    run = uuid.uuid4().hex[:8]
    tenant = f"web-m-{run}"
    lib, app = f"web-mlib-{run}", f"web-mapp-{run}"
    developer = await developer_with_key(gateway, run)
    for slug in (lib, app):
        await register(gateway, developer[0], slug)
    await upload(gateway, developer, package(manifest(lib, hooks=[], permissions=[])))
    base = {"dependencies": {"plugins": {lib: "^1.0.0"}}, "config_schema": CONFIG_SCHEMA}
    await upload(gateway, developer, package(manifest(app, **base)))
    await upload(
        gateway,
        developer,
        package(
            manifest(
                app,
                "1.1.0",
                permissions=["api:devices:read", "storage:read"],
                **base,
            )
        ),
    )
    await until_installable(gateway, app, tenant)
    admin = bearer(sub=f"admin-{run}", tenant_id=tenant, roles=["tenant_admin"])
    # The installer learns 1.1.0 from the catalog's events too: wait until it can plan it.
    for _ in range(240):
        r = await gateway.post(
            "/api/v1/plugins/install",
            json={"plugin": app, "version": "1.1.0", "dry_run": True},
            headers=admin,
        )
        if r.status_code == 200:
            break
        await asyncio.sleep(0.25)
    assert r.status_code == 200, r.text
    await install(
        gateway,
        admin,
        {"plugin": app, "version": "1.0.0", "config": {"api_key": "first-secret", "region": "eu"}},
    )
    token = admin["Authorization"].removeprefix("Bearer ")

    page = await (await open_context(DESKTOP, token=token)).new_page()
    await page.goto("/dashboard")
    row = page.locator(f"tr[data-plugin='{app}']")
    await expect(row).to_contain_text("Update available: 1.1.0")
    await row.get_by_role("link", name=f"Manage {app}").click()

    # Configuration: the schema's form, the secret masked, saved without retyping it.
    await expect(page.get_by_role("heading", level=1, name=f"Manage {app}")).to_be_visible()
    secret = page.get_by_label("API key")
    await expect(secret).to_have_attribute("type", "password")
    await expect(secret).to_have_value("********")
    await page.get_by_label("Region").select_option("us")
    await shoot(page, "manage-config")
    await page.get_by_role("button", name="Save configuration").click()
    await expect(page.get_by_role("status")).to_have_text("Configuration saved.")
    r = await gateway.get(f"/api/v1/plugins/{app}/installation", headers=admin)
    assert r.json()["config"] == {"api_key": "********", "region": "us"}, r.text

    # Upgrade: consent only to the permission 1.1.0 adds.
    await page.get_by_role("tab", name="Upgrade").click()
    panel = page.get_by_role("tabpanel")
    asked = panel.get_by_role("group", name="Version 1.1.0 asks for new permissions")
    await expect(asked).to_contain_text("storage:read")
    await expect(asked).not_to_contain_text("api:devices:read")
    upgrade = panel.get_by_role("button", name="Upgrade to 1.1.0")
    await expect(upgrade).to_be_disabled()
    await panel.get_by_label("I grant this new permission").check()
    await shoot(page, "manage-upgrade")
    await upgrade.click()
    summary = page.get_by_test_id("installation-summary")
    await expect(summary).to_contain_text("Version 1.1.0", timeout=CONVERGE_MS)
    await expect(summary).to_contain_text("Enabled", timeout=CONVERGE_MS)
    r = await gateway.get(f"/api/v1/plugins/{app}/installation", headers=admin)
    assert "storage:read" in r.json()["granted_permissions"], r.text
    assert r.json()["config"]["api_key"] == "********"  # the secret survived the upgrade

    # Uninstalling the library warns that the app depends on it.
    await page.goto(f"/dashboard?plugin={lib}&tab=uninstall")
    warning = page.get_by_role("note")
    await expect(warning).to_contain_text(f"depends on {lib}: {app}")
    await page.get_by_role("button", name=f"Uninstall {lib}").click()
    confirm = page.get_by_role("group", name="Confirm the uninstall")
    await expect(confirm).to_contain_text(f"disable {app}")
    await shoot(page, "manage-uninstall")
    await confirm.get_by_role("button", name="Cancel").click()
    await page.goto("/dashboard")
    await expect(page.locator(f"tr[data-plugin='{app}']")).to_contain_text("1.1.0")
    await expect(page.locator(f"tr[data-plugin='{app}']")).not_to_contain_text("Update available")

    await narrow_shots(
        open_context,
        shoot,
        token,
        [
            (f"/dashboard?plugin={app}", "manage-config", lambda p: p.get_by_label("Region")),
            (
                f"/dashboard?plugin={app}&tab=upgrade",
                "manage-upgrade",
                lambda p: p.get_by_text("Version 1.1.0 is the latest."),
            ),
            (
                f"/dashboard?plugin={lib}&tab=uninstall",
                "manage-uninstall",
                lambda p: p.get_by_role("note"),
            ),
        ],
    )


async def emit_device_created(bootstrap: str, tenant: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        payload = DeviceCreatedV1.example().model_copy(update={"tenant_id": tenant})
        await PlatformEventPublisher(producer).publish(payload, source="tests/e2e/browser")
    finally:
        await producer.stop()


async def finished_delivery(
    gateway: httpx.AsyncClient, admin: dict[str, str], plugin_id: str, bootstrap: str, tenant: str
) -> dict[str, Any]:
    """Emits device.created until the plugin's handler got one and the delivery finished."""
    url = f"/api/v1/plugins/{plugin_id}/hooks/deliveries"
    for attempt in range(240):
        if attempt % 40 == 0:
            await emit_device_created(bootstrap, tenant)
        r = await gateway.get(url, headers=admin)
        assert r.status_code == 200, r.text
        done = [d for d in r.json()["items"] if d["status"] != "pending"]
        if done:
            return done[0]
        await asyncio.sleep(0.25)
    raise AssertionError(f"no delivery finished: {r.text}")


async def test_the_delivery_log_shows_attempts_replays_and_rotates_the_secret(
    gateway: httpx.AsyncClient, local_stack: LocalStack, open_context: OpenContext, shoot: Shoot
):
    run = uuid.uuid4().hex[:8]
    tenant = f"web-d-{run}"
    slug = f"web-hook-{run}"
    developer = await developer_with_key(gateway, run)
    await register(gateway, developer[0], slug)
    handler = b"def on_created(event, context):\n    return {'seen': event['type']}\n"
    await upload(gateway, developer, package(manifest(slug), **{"backend__hooks.py": handler}))
    await until_installable(gateway, slug, tenant)
    admin = bearer(sub=f"admin-{run}", tenant_id=tenant, roles=["tenant_admin"])
    installation = await install(gateway, admin, {"plugin": slug})
    first = await finished_delivery(
        gateway, admin, installation["plugin_id"], local_stack.kafka_bootstrap, tenant
    )
    token = admin["Authorization"].removeprefix("Bearer ")

    page = await (await open_context(DESKTOP, token=token)).new_page()
    await page.goto(f"/dashboard?plugin={slug}")
    await page.get_by_role("tab", name="Deliveries").click()
    item = page.locator(f"li[data-delivery='{first['id']}']")
    await expect(item).to_contain_text("device.created")
    await expect(item).to_contain_text("1 attempt")
    await item.get_by_text("Attempts of this delivery").click()
    attempts = item.get_by_role("table", name=f"Attempts of delivery {first['id']}")
    await expect(attempts.get_by_role("row")).to_have_count(2)  # header and the one attempt
    await shoot(page, "deliveries")

    # Replay the one delivery: a second attempt is made.
    await item.get_by_role("button", name=re.compile("^Replay")).click()
    await expect(item.get_by_role("status")).to_have_text(re.compile("Sent again"))
    await expect(item).to_contain_text("2 attempts", timeout=CONVERGE_MS)
    await expect(attempts.get_by_role("row")).to_have_count(3)

    # Replay a window: every finished delivery of the last hour.
    window = page.get_by_role("form", name="Replay a time window")
    await window.get_by_label("Only those that").select_option("")
    await expect(item).not_to_contain_text("Pending", timeout=CONVERGE_MS)
    await window.get_by_role("button", name="Replay the window").click()
    await expect(window.get_by_role("status")).to_have_text(
        re.compile(r"^[1-9]\d* deliver(y|ies) queued again\.$")
    )
    await expect(item).to_contain_text("3 attempts", timeout=CONVERGE_MS)
    await shoot(page, "deliveries-replayed")

    # Filters: no delivery to this plugin was dead-lettered.
    await page.get_by_label("Status", exact=True).select_option("dead_lettered")
    await expect(page.get_by_text("No delivery matches these filters.")).to_be_visible()

    # The webhook secret: rotated, shown once.
    await page.get_by_role("tab", name="Webhook secret").click()
    await page.get_by_role("button", name="Rotate the signing secret").click()
    await page.get_by_role("button", name="Rotate now").click()
    shown = page.get_by_label("New signing secret")
    await expect(shown).to_have_value(re.compile(r".{16,}"))
    await expect(page.get_by_role("status")).to_contain_text("shown only this once")
    await shoot(page, "webhook-secret")

    await narrow_shots(
        open_context,
        shoot,
        token,
        [
            (
                f"/dashboard?plugin={slug}&tab=deliveries",
                "deliveries",
                lambda p: p.locator(f"li[data-delivery='{first['id']}']"),
            ),
            (
                f"/dashboard?plugin={slug}&tab=secret",
                "webhook-secret",
                lambda p: p.get_by_role("button", name="Rotate the signing secret"),
            ),
        ],
    )
