"""The web console as people use it, in a real browser against the running suite: a tenant
admin signs in (development sign-in), finds a plugin, installs it through plan, consent and
config and sees it Enabled; a member of the tenant reviews it and sees the rating change; a
platform admin bans it and the tenant's dashboard shows it disabled. Every page is saved at
desktop and narrow widths and checked with axe."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.async_api import BrowserContext, Page, expect

from opscenter.catalog.testing import Signer, manifest, package
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings

from .conftest import DESKTOP, NARROW, OpenContext, Shoot

SETTINGS = ServiceSettings()  # the suite's services share the local signing secret
CONVERGE_MS = 60_000  # the services converge through Kafka


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(SETTINGS, **claims)}"}


async def publish(gateway: httpx.AsyncClient, run: str) -> tuple[str, str]:
    """A developer publishes a library and an app that needs it, each with a secret in its
    config schema; answers their slugs."""
    developer = bearer(sub=f"dev-{run}", roles=["developer"], publisher_id=f"pub-{run}")
    signer = Signer()
    r = await gateway.post(
        "/api/v1/plugins/publishers/me/keys",
        json={"public_key": signer.public_b64},
        headers=developer,
    )
    assert r.status_code == 201, r.text
    key_id = r.json()["key_id"]
    lib, app = f"web-lib-{run}", f"web-app-{run}"
    for slug, deps in ((lib, {}), (app, {lib: "^1.0.0"})):
        await register(gateway, developer, slug)
        blob = package(
            manifest(
                slug,
                name=f"Console {slug}",
                dependencies={"plugins": deps},
                hooks=[{"name": "device.created", "url": "https://hooks.example.com/in"}],
                config_schema={
                    "type": "object",
                    "properties": {
                        "api_key": {"type": "string", "title": "API key", "secret": True}
                    },
                    "required": ["api_key"],
                },
            )
        )
        r = await gateway.post(
            "/api/v1/plugins/upload",
            files={"package": (f"{slug}.tar.gz", blob, "application/gzip")},
            data={"signature": signer.sign(blob), "key_id": key_id},
            headers=developer,
        )
        assert r.status_code == 201, r.text
    return lib, app


async def register(gateway: httpx.AsyncClient, developer: dict[str, str], slug: str) -> None:
    r = await gateway.post(
        "/api/v1/plugins/register",
        json={
            "slug": slug,
            "name": f"Console {slug}",
            "description": "Sends device alerts to a chat room",
            "type": "backend",
            "category": "monitoring",
        },
        headers=developer,
    )
    assert r.status_code == 201, r.text


async def until_installable(gateway: httpx.AsyncClient, app: str, tenant: str) -> None:
    """The installer learns the catalog from its events: wait until it can plan `app`."""
    admin = bearer(sub="probe", tenant_id=tenant, roles=["tenant_admin"])
    for _ in range(240):
        r = await gateway.post(
            "/api/v1/plugins/install", json={"plugin": app, "dry_run": True}, headers=admin
        )
        if r.status_code == 200:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"the installer never planned {app}: {r.text}")


async def install(
    gateway: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    """Installs through the API (the wizard has its own test), consenting to the plan's
    permissions; answers the installation once it is enabled."""
    r = await gateway.post("/api/v1/plugins/install", json={**body, "dry_run": True}, headers=admin)
    assert r.status_code == 200, r.text
    permissions = r.json()["plan"]["permissions"]
    r = await gateway.post(
        "/api/v1/plugins/install",
        json={**body, "accept_permissions": permissions, "enable": True},
        headers=admin,
    )
    assert r.status_code == 202, r.text
    for _ in range(240):
        r = await gateway.get(f"/api/v1/plugins/{body['plugin']}/installation", headers=admin)
        if r.status_code == 200 and r.json()["state"] == "enabled":
            return r.json()
        await asyncio.sleep(0.25)
    raise AssertionError(f"{body['plugin']} never became enabled: {r.text}")


async def sign_in(
    page: Page, shoot: Shoot, role: str, tenant: str, user: str, publisher: str = ""
) -> str:
    """The development sign-in, through its form; answers the token the console keeps."""
    await page.goto("/sign-in")
    await page.get_by_label("Role", exact=True).select_option(role)
    await page.get_by_label("Tenant", exact=True).fill(tenant)
    await page.get_by_label("Publisher (developers)").fill(publisher)
    await page.get_by_label("User id (optional)").fill(user)
    await shoot(page, "sign-in")
    await page.get_by_role("button", name=f"Sign in as {role}").click()
    landing = {"developer": "/developer", "platform_admin": "/admin"}.get(role, "/dashboard")
    await expect(page).to_have_url(re.compile(rf"{landing}$"))
    token = await page.evaluate("sessionStorage.getItem('opscenter.token')")
    assert token
    return token


async def install_through_the_wizard(page: Page, shoot: Shoot, lib: str, app: str) -> None:
    await page.goto("/")
    await page.get_by_label("Search plugins").fill(app)
    # Search as you type: the URL carries the query once the debounce has passed.
    await expect(page).to_have_url(re.compile(rf"\?q={app}"))
    card = page.get_by_role("link", name=f"Console {app}")
    await expect(card).to_be_visible()
    await shoot(page, "marketplace")
    await card.click()

    await expect(page.get_by_role("heading", level=1, name=f"Console {app}")).to_be_visible()
    await expect(page.get_by_text("Signed", exact=True).first).to_be_visible()
    await shoot(page, "plugin-detail")
    await page.get_by_role("tab", name="Permissions and hooks").click()
    await expect(page.get_by_role("tabpanel")).to_contain_text("Read device data")
    await shoot(page, "plugin-permissions")
    await page.get_by_role("tab", name="Dependencies").click()
    await expect(page.get_by_role("tabpanel").get_by_role("link", name=lib)).to_be_visible()
    await page.get_by_role("link", name="Install", exact=True).click()

    # The plan: the dependency first, then the app.
    rows = page.get_by_role("table").get_by_role("row")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(1)).to_contain_text(lib)
    await expect(rows.nth(2)).to_contain_text(app)
    await shoot(page, "install-plan")
    await page.get_by_role("button", name="Continue to permissions").click()

    # One consent step, each permission in plain words, grouped by plugin.
    await expect(page.get_by_role("region", name=f"{app} 1.0.0")).to_contain_text(
        "Read device data"
    )
    proceed = page.get_by_role("button", name="Continue to configuration")
    await expect(proceed).to_be_disabled()
    await page.get_by_label(re.compile(r"I grant these \d+ permissions?")).check()
    await shoot(page, "install-consent")
    await proceed.click()

    # The config forms from the versions' schemas; the server's errors land on their fields.
    await page.get_by_role("button", name="Check configuration").click()
    app_form = page.get_by_role("region", name=app, exact=True)
    await expect(app_form).to_contain_text("is required")
    secret = app_form.get_by_label("API key")
    await expect(secret).to_have_attribute("type", "password")
    await shoot(page, "install-config-errors")
    await secret.fill("app-secret-value")
    await page.get_by_role("region", name=lib, exact=True).get_by_label("API key").fill("lib-key")
    await page.get_by_role("button", name="Check configuration").click()

    # Price and trial, then live progress until Enabled.
    await expect(page.get_by_role("heading", name="Price and install")).to_be_visible()
    await shoot(page, "install-price")
    await page.get_by_role("button", name=f"Install {app} 1.0.0").click()
    await expect(page.get_by_role("status")).to_have_text("Enabled", timeout=CONVERGE_MS)
    await shoot(page, "install-enabled")


def dashboard_row(page: Page, slug: str):
    return page.locator(f"tr[data-plugin='{slug}']")


async def write_review(page: Page, shoot: Shoot, app: str) -> None:
    await page.goto(f"/plugins/{app}?tab=reviews")
    summary = page.get_by_test_id("review-summary")
    await expect(summary).to_have_text("No ratings yet")
    await page.get_by_label("Rating", exact=True).select_option("4")
    await page.get_by_label("Title", exact=True).fill("Does what it says")
    await page.get_by_label("Review", exact=True).fill("Alerts arrive within a second.")
    await shoot(page, "plugin-reviews-empty")
    # Reviews learns of the installation from the installer's events: until it has, the
    # service refuses (403) and the form says why; the member tries again.
    published = page.get_by_text("Thank you: your review is published.")
    for _ in range(60):
        await page.get_by_role("button", name="Publish review").click()
        outcome = published.or_(page.get_by_role("alert"))
        await expect(outcome.first).to_be_visible()
        if await published.is_visible():
            break
        await asyncio.sleep(1)
    await expect(published).to_be_visible()
    await expect(summary.get_by_label("Rated 4.0 out of 5 from 1 review")).to_be_visible()
    histogram = page.get_by_role("table", name=re.compile("How 1 reviewers rated it"))
    await expect(histogram).to_contain_text("4 stars1")
    await shoot(page, "plugin-reviews")


async def test_install_review_and_ban_through_the_console(
    gateway: httpx.AsyncClient, open_context: OpenContext, shoot: Shoot
):
    run = uuid.uuid4().hex[:8]
    tenant = f"web-{run}"
    lib, app = await publish(gateway, run)
    await until_installable(gateway, app, tenant)

    desktop: BrowserContext = await open_context(DESKTOP)
    page = await desktop.new_page()
    admin_token = await sign_in(page, shoot, "tenant_admin", tenant, f"admin-{run}")
    await expect(page.get_by_text("No plugin is installed yet.")).to_be_visible()
    await shoot(page, "dashboard-empty")

    await install_through_the_wizard(page, shoot, lib, app)
    await page.get_by_role("link", name="Go to the dashboard").click()
    await expect(dashboard_row(page, app)).to_contain_text("Enabled")
    await expect(dashboard_row(page, lib)).to_contain_text("Enabled")
    await shoot(page, "dashboard")

    member_token = await sign_in(page, shoot, "member", tenant, f"member-{run}")
    await write_review(page, shoot, app)

    # A platform admin bans the app from the moderation page; the tenant's dashboard shows it
    # disabled, and why.
    await sign_in(page, shoot, "platform_admin", "", f"ops-{run}")
    await page.get_by_label("Plugin slug or id").fill(app)
    await page.get_by_role("button", name="Open").click()
    # Review moderation: the admin hides the member's review with a reason; the public
    # summary no longer counts it, and the review's log says who hid it and why.
    review = page.get_by_role("listitem").filter(has_text="Does what it says")
    await review.get_by_label("Reason to hide it").fill("off-topic")
    await review.get_by_role("button", name="Hide review").click()
    await expect(review).to_contain_text("Hidden")
    await review.get_by_role("button", name="Moderation log").click()
    await expect(review.get_by_role("list", name=re.compile("^Moderation log"))).to_contain_text(
        "off-topic"
    )
    await shoot(page, "admin-reviews")
    for _ in range(40):
        listed = await gateway.get(f"/api/v1/plugins/marketplace/{app}/reviews")
        if listed.json()["summary"]["count"] == 0:
            break
        await asyncio.sleep(0.25)
    assert listed.json()["summary"]["count"] == 0, listed.text
    moderate = page.get_by_role("form", name=f"Moderate {app}")
    ban = moderate.get_by_role("button", name=f"Ban {app}")
    await expect(ban).to_be_disabled()  # a ban needs its reason
    await moderate.get_by_label(re.compile("^Reason")).fill("exfiltrates data")
    await shoot(page, "admin")
    await ban.click()
    await expect(moderate.get_by_role("status")).to_have_text(f"{app}: banned.")
    log = page.get_by_role("table", name=f"Moderation log of {app}")
    await expect(log).to_contain_text("exfiltrates data")
    await shoot(page, "admin-banned")

    await sign_in(page, shoot, "tenant_admin", tenant, f"admin-{run}")
    await expect(dashboard_row(page, app)).to_contain_text("Disabled", timeout=CONVERGE_MS)
    await expect(dashboard_row(page, app)).to_contain_text("banned")
    await shoot(page, "dashboard-banned")
    await page.goto(f"/plugins/{app}")
    await expect(page.get_by_role("alert")).to_contain_text("exfiltrates data")
    await shoot(page, "plugin-banned")

    # The same pages at a phone's width.
    narrow = await open_context(NARROW, token=admin_token)
    phone = await narrow.new_page()
    for path, name in (
        (f"/?q={lib}", "marketplace"),
        (f"/plugins/{lib}", "plugin-detail"),
        (f"/plugins/{lib}?tab=permissions", "plugin-permissions"),
        (f"/plugins/{lib}?tab=reviews", "plugin-reviews"),
        ("/dashboard", "dashboard"),
        ("/developer", "developer-signed-out"),
        ("/admin", "admin-signed-out"),
        ("/sign-in", "sign-in"),
    ):
        await phone.goto(path)
        await expect(phone.get_by_role("heading", level=1)).to_be_visible()
        await expect(phone.get_by_role("status")).to_have_count(0)  # nothing still loading
        await shoot(phone, name)
    # The install plan and the moderation page at a phone's width (a tenant without lib).
    fresh = bearer(sub=f"admin2-{run}", tenant_id=f"{tenant}-2", roles=["tenant_admin"])
    ops = bearer(sub=f"ops-{run}", roles=["platform_admin"])
    for headers, path, name, ready in (
        (fresh, f"/plugins/{lib}/install", "install-plan", "Continue to permissions"),
        (ops, f"/admin?plugin={app}", "admin-banned", f"Ban {app}"),
    ):
        token = headers["Authorization"].removeprefix("Bearer ")
        other = await (await open_context(NARROW, token=token)).new_page()
        await other.goto(path)
        await expect(other.get_by_role("button", name=ready)).to_be_visible()
        await expect(other.get_by_role("status")).to_have_count(0)
        await shoot(other, name)
    member_phone = await (await open_context(NARROW, token=member_token)).new_page()
    await member_phone.goto(f"/plugins/{lib}?tab=reviews")
    await expect(member_phone.get_by_role("heading", name="Write a review")).to_be_visible()
    await shoot(member_phone, "plugin-write-review")


async def test_the_console_is_served_at_its_routes_and_other_paths_stay_problems(
    gateway: httpx.AsyncClient,
):
    console_routes = ("/", "/dashboard", "/developer", "/admin", "/sign-in", "/plugins/x")
    for path in (*console_routes, "/plugins/x/install"):
        r = await gateway.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert '<div id="root">' in r.text
    asset = re.search(r'src="(/assets/[^"]+\.js)"', r.text)
    assert asset, r.text
    r = await gateway.get(asset.group(1))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    for path in ("/nope", "/plugins/a/b/c", "/assets/missing.js"):
        r = await gateway.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json", path


async def test_the_development_sign_in_is_routed_to_the_catalog(gateway: httpx.AsyncClient):
    r = await gateway.post(
        "/api/v1/dev/sign-in", json={"roles": ["developer"], "publisher_id": "pub-x"}
    )
    assert r.status_code == 200, r.text
    me = await gateway.get(
        "/api/v1/plugins/publishers/me/plugins",
        headers={"Authorization": f"Bearer {r.json()['token']}"},
    )
    assert me.status_code == 200, me.text


async def test_a_developer_registers_uploads_and_sees_the_version_listed_and_charted(
    gateway: httpx.AsyncClient, open_context: OpenContext, shoot: Shoot, tmp_path
):
    run = uuid.uuid4().hex[:8]
    slug = f"web-dev-{run}"
    good = tmp_path / f"{slug}.tar.gz"
    good.write_bytes(package(manifest(slug, name=f"Console {slug}")))
    # Installs need signed packages: the developer's key is registered, the upload signed.
    signer = Signer()
    developer = bearer(sub=f"dev-{run}", roles=["developer"], publisher_id=f"pub-{run}")
    r = await gateway.post(
        "/api/v1/plugins/publishers/me/keys",
        json={"public_key": signer.public_b64},
        headers=developer,
    )
    assert r.status_code == 201, r.text
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tar archive")

    page = await (await open_context(DESKTOP)).new_page()
    await sign_in(page, shoot, "developer", "", f"dev-{run}", publisher=f"pub-{run}")
    await expect(page.get_by_text("You have not registered a plugin yet.")).to_be_visible()
    await shoot(page, "developer-empty")
    register = page.get_by_role("form", name="Register a plugin")
    await register.get_by_label("Slug").fill(slug)
    await register.get_by_label("Name").fill(f"Console {slug}")
    await register.get_by_role("button", name="Register").click()
    await expect(register.get_by_role("status")).to_have_text(f"Registered {slug}.")

    # A refused upload says why, in words.
    form = page.get_by_role("form", name="Upload a version")
    await form.get_by_label("Plugin", exact=True).select_option(slug)
    await form.get_by_label(re.compile("^Package")).set_input_files(str(broken))
    await form.get_by_role("button", name="Upload").click()
    await expect(form.get_by_role("alert")).to_contain_text(re.compile("archive|package"))
    await shoot(page, "developer-refused")

    await form.get_by_label(re.compile("^Package")).set_input_files(str(good))
    await form.get_by_label(re.compile("^Signature")).fill(signer.sign(good.read_bytes()))
    await form.get_by_role("button", name="Upload").click()
    await expect(form.get_by_role("status")).to_have_text(f"Published {slug} 1.0.0 (signed).")
    versions = page.get_by_role("table", name=f"Versions of {slug}")
    await expect(versions).to_contain_text("1.0.0")
    await expect(versions).to_contain_text("Available")

    # A tenant installs it: the developer's analytics chart shows the install (the analytics
    # service counts it from the installer's events).
    tenant = f"web-dev-t-{run}"
    await until_installable(gateway, slug, tenant)
    await install(
        gateway, bearer(sub=f"a-{run}", tenant_id=tenant, roles=["tenant_admin"]), {"plugin": slug}
    )
    installs = page.get_by_role("table", name=f"Installs of {slug}")
    today = datetime.now(UTC).date().isoformat()
    await expect(installs.get_by_role("row", name=re.compile(rf"^{today} 1 0 1$"))).to_have_count(
        1, timeout=CONVERGE_MS
    )
    await expect(page.get_by_role("img", name=f"Installs of {slug}")).to_be_visible()
    await expect(page.get_by_role("group", name=f"Totals of {slug}")).to_contain_text(
        "Active installs1"
    )
    await shoot(page, "developer")

    token = await page.evaluate("sessionStorage.getItem('opscenter.token')")
    phone = await (await open_context(NARROW, token=token)).new_page()
    await phone.goto("/developer")
    await expect(phone.get_by_role("table", name=f"Versions of {slug}")).to_contain_text("1.0.0")
    await expect(phone.get_by_role("table", name=f"Installs of {slug}")).to_contain_text(today)
    await shoot(phone, "developer")
