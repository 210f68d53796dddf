"""The developer portal's signing keys and yank, and moderation's deprecate and platform
overview, in a real browser against the running suite: a developer pastes a key that is not one
and reads the refusal, registers a real one, yanks a version with a reason and sees it marked
yanked, then revokes the key after confirming; a platform admin opens the analytics overview and
finds the plugin a tenant installed among the top plugins by installs, then deprecates it and
reads the deprecation and the yank in its moderation log. Pages are saved at desktop and narrow
widths and checked with axe."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from playwright.async_api import expect

from opscenter.catalog.testing import Signer, manifest, package

from .conftest import DESKTOP, OpenContext, Shoot
from .test_console import CONVERGE_MS, bearer, install, register, until_installable
from .test_console_manage import narrow_shots


async def until_in_overview(gateway: httpx.AsyncClient, ops: dict[str, str], slug: str) -> None:
    """Analytics learns installs from the installer's events: wait until the overview ranks it
    (among 100: other tests' plugins in the same suite share a rank of one or two installs)."""
    for _ in range(240):
        r = await gateway.get(
            "/api/v1/admin/analytics/overview", params={"limit": 100}, headers=ops
        )
        assert r.status_code == 200, r.text
        if slug in {p["slug"] for p in r.json()["top_by_installs"]}:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"the overview never ranked {slug}: {r.text}")


async def test_keys_yank_overview_and_deprecate(
    gateway: httpx.AsyncClient, open_context: OpenContext, shoot: Shoot
):
    run = uuid.uuid4().hex[:8]
    app, tenant = f"web-pub-{run}", f"web-p-{run}"
    developer = bearer(sub=f"dev-{run}", roles=["developer"], publisher_id=f"pub-{run}")
    dev_token = developer["Authorization"].removeprefix("Bearer ")
    signer = Signer()

    page = await (await open_context(DESKTOP, token=dev_token)).new_page()
    await page.goto("/developer")
    keys = page.get_by_role("region", name="Signing keys")
    await expect(keys.get_by_text("No signing key registered yet.")).to_be_visible()
    field = keys.get_by_label("Public key")
    await field.fill("not-a-key")
    await keys.get_by_role("button", name="Register key").click()
    await expect(keys.get_by_role("alert")).to_contain_text("public_key")  # the server's reasons
    await field.fill(signer.public_b64)
    await keys.get_by_role("button", name="Register key").click()
    await expect(keys.get_by_role("status").filter(has_text="registered")).to_be_visible()
    await expect(keys.get_by_role("listitem")).to_have_count(1)
    await expect(keys.get_by_role("listitem")).to_contain_text("Active")

    # The key the browser registered signs the uploads.
    await register(gateway, developer, app)
    for version in ("1.0.0", "1.1.0"):
        blob = package(manifest(app, version, hooks=[], permissions=[]))
        r = await gateway.post(
            "/api/v1/plugins/upload",
            files={"package": ("p.tar.gz", blob, "application/gzip")},
            data={"signature": signer.sign(blob)},
            headers=developer,
        )
        assert r.status_code == 201, r.text

    await page.reload()
    card = page.get_by_role("article", name=f"Plugin {app} {app}")  # the manifest names it
    await card.get_by_role("button", name="Yank 1.1.0").click()
    await card.get_by_label("Reason for yanking 1.1.0").fill("leaks the api key in logs")
    await (
        card.get_by_role("form", name=f"Yank {app} 1.1.0")
        .get_by_role("button", name="Yank 1.1.0")
        .click()
    )
    row = card.locator("tr[data-version='1.1.0']")
    await expect(row).to_contain_text("Yanked: leaks the api key in logs")
    await expect(
        card.get_by_role("status").filter(has_text="latest version is now 1.0.0")
    ).to_be_visible()
    await shoot(page, "developer-keys-yank")
    r = await gateway.get(f"/api/v1/plugins/marketplace/{app}/versions")
    assert {v["version"]: v["yanked"] for v in r.json()["items"]} == {
        "1.1.0": True,
        "1.0.0": False,
    }

    # Three tenants install 1.0.0 (signed with the key), so the overview ranks it among the
    # top 100 by installs: the suite's other tests leave far more than 100 plugins with one
    # install each (ties are ordered by id), and only a few with three or more.
    await until_installable(gateway, app, tenant)
    for n in range(3):
        tenant_n = tenant if n == 0 else f"{tenant}-{n}"
        admin = bearer(sub=f"admin-{run}", tenant_id=tenant_n, roles=["tenant_admin"])
        await install(gateway, admin, {"plugin": app})

    # Revoking asks first, then marks the key revoked.
    await keys.get_by_role("button", name="Revoke key").click()
    await keys.get_by_role("button", name="Yes, revoke").click()
    await expect(keys.get_by_role("listitem")).to_contain_text("Revoked")
    await expect(keys.get_by_role("button", name="Revoke key")).to_have_count(0)
    r = await gateway.get("/api/v1/plugins/publishers/me/keys", headers=developer)
    assert [k["revoked_at"] is not None for k in r.json()["items"]] == [True], r.text

    ops = bearer(sub=f"ops-{run}", roles=["platform_admin"])
    ops_token = ops["Authorization"].removeprefix("Bearer ")
    await until_in_overview(gateway, ops, app)
    admin_page = await (await open_context(DESKTOP, token=ops_token)).new_page()
    await admin_page.goto("/admin")
    await admin_page.get_by_label("Plugins per ranking").select_option("100")
    top = admin_page.get_by_role("table", name="Top plugins by installs")
    await expect(top.get_by_role("link", name=app)).to_be_visible(timeout=CONVERGE_MS)
    await expect(admin_page.get_by_label("Platform totals")).to_contain_text("Active installs")
    await shoot(admin_page, "admin-overview")

    # From the ranking to moderation: deprecate with a reason; the log shows it and the yank.
    await top.get_by_role("link", name=app).click()
    await admin_page.get_by_label("Reason (kept").fill("superseded by the v2 line")
    await admin_page.get_by_role("button", name="Deprecate").click()
    await expect(admin_page.get_by_role("status").filter(has_text="deprecated")).to_be_visible()
    log = admin_page.get_by_role("table", name=f"Moderation log of {app}")
    await expect(log).to_contain_text("deprecate")
    await expect(log).to_contain_text("superseded by the v2 line")
    await expect(log).to_contain_text("yank 1.1.0")
    await expect(admin_page.locator("tr[data-version='1.1.0']")).to_contain_text("Yanked")
    await shoot(admin_page, "admin-deprecate-yank")

    await narrow_shots(
        open_context,
        shoot,
        dev_token,
        [("/developer", "developer-keys-yank", lambda p: p.get_by_text("Revoked").first)],
    )
    await narrow_shots(
        open_context,
        shoot,
        ops_token,
        [
            (
                "/admin",
                "admin-overview",
                lambda p: p.get_by_role("table", name="Top plugins by installs"),
            ),
            (
                f"/admin?plugin={app}",
                "admin-deprecate-yank",
                lambda p: p.get_by_role("table", name=f"Moderation log of {app}"),
            ),
        ],
    )
