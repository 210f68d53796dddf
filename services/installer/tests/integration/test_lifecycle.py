"""Enable, disable, uninstall, config, upgrade; tenant isolation; bans; entitlements."""

from __future__ import annotations

import uuid

from opscenter.contracts import INSTALLER_ENTITLEMENT, INSTALLER_INSTALLATION
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.testing import collect_events


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def installed_pair(catalog, tenant, *, enable: bool = True) -> tuple[str, str]:
    base, top = name("base"), name("top")
    await catalog.publish(base, "1.0.0")
    await catalog.publish(top, "1.0.0", deps={base: "^1.0.0"})
    assert (await tenant.install(top, enable=enable)).status_code == 202
    state = "enabled" if enable else "installed"
    await tenant.wait_state(top, state)
    await tenant.wait_state(base, state)
    return base, top


async def test_disable_and_enable_respect_dependencies(catalog, new_tenant):
    tenant = new_tenant()
    base, top = await installed_pair(catalog, tenant)
    refused = await tenant.post(f"/plugins/{base}/disable")
    assert refused.status_code == 409
    assert refused.json()["dependents"] == [top]
    assert refused.json()["current_state"] == "enabled"
    assert (await tenant.installation(base))["state"] == "enabled"

    cascaded = await tenant.post(f"/plugins/{base}/disable", json={"cascade": "disable"})
    assert cascaded.status_code == 200, cascaded.text
    assert cascaded.json()["state"] == "disabled"
    assert (await tenant.installation(top))["state"] == "disabled"

    again = await tenant.post(f"/plugins/{base}/disable")
    assert again.status_code == 409
    assert again.json()["current_state"] == "disabled"

    needs = await tenant.post(f"/plugins/{top}/enable")
    assert needs.status_code == 409
    assert needs.json()["dependencies"] == [base]
    assert (await tenant.post(f"/plugins/{base}/enable")).json()["state"] == "enabled"
    assert (await tenant.post(f"/plugins/{top}/enable")).json()["state"] == "enabled"
    history = (await tenant.installation(top))["history"]
    assert [h["to_state"] for h in history] == [
        "installing",
        "installed",
        "enabled",
        "disabled",
        "enabled",
    ]
    assert history[3]["reason"] == f"{base} was disabled"


async def test_uninstall_names_dependents_unless_cascade(catalog, new_tenant, settings):
    tenant = new_tenant()
    base, top = await installed_pair(catalog, tenant)
    refused = await tenant.post(f"/plugins/{base}/uninstall")
    assert refused.status_code == 409
    assert top in refused.json()["detail"]
    response = await tenant.post(f"/plugins/{base}/uninstall", json={"cascade": "uninstall"})
    assert response.status_code == 202
    await tenant.wait_state(base, "uninstalled")
    await tenant.wait_state(top, "uninstalled")
    assert (await tenant.get("/plugins/installed")).json()["items"] == []
    # History is kept, and the plugin can be installed again.
    assert (await tenant.installation(top))["history"][-1]["to_state"] == "uninstalled"
    assert (await tenant.install(top)).status_code == 202
    await tenant.wait_state(top, "enabled")
    events = await collect_events(
        settings.kafka_bootstrap,
        INSTALLER_INSTALLATION.name,
        where=lambda e: e.tenantid == tenant.id and e.type.endswith("uninstalled.v1"),
        count=2,
    )
    assert {e.data["slug"] for e in events} == {base, top}


async def test_uninstall_leaf_without_dependents(catalog, new_tenant):
    tenant = new_tenant()
    base, top = await installed_pair(catalog, tenant)
    assert (await tenant.post(f"/plugins/{top}/uninstall")).status_code == 202
    await tenant.wait_state(top, "uninstalled")
    assert (await tenant.installation(base))["state"] == "enabled"


async def test_config_secrets_are_masked_write_only_and_encrypted(catalog, new_tenant, worker):
    slug = name("secret")
    schema = {
        "type": "object",
        "properties": {
            "api_key": {"type": "string", "secret": True},
            "region": {"type": "string"},
        },
        "required": ["api_key", "region"],
    }
    await catalog.publish(slug, "1.0.0", config_schema=schema)
    tenant = new_tenant()
    response = await tenant.install(slug, config={"api_key": "sk-live-123", "region": "eu"})
    assert response.status_code == 202
    assert response.json()["installation"]["config"] == {"api_key": "********", "region": "eu"}
    await tenant.wait_state(slug, "enabled")
    async with worker.sessions() as session:
        from sqlalchemy import text

        row = (
            await session.execute(
                text("SELECT config::text, secret_config FROM installations WHERE slug = :s"),
                {"s": slug},
            )
        ).one()
    assert "sk-live-123" not in row[0]
    assert "sk-live-123" not in row[1]

    # A PUT without the secret keeps the stored one; the mask sent back keeps it too.
    kept = await tenant.client.put(
        f"/api/v1/plugins/{slug}/config",
        json={"config": {"region": "us"}},
        headers=tenant.headers(),
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["config"] == {"api_key": "********", "region": "us"}
    bad = await tenant.client.put(
        f"/api/v1/plugins/{slug}/config",
        json={"config": {"api_key": "********", "region": 5}},
        headers=tenant.headers(),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"field": "config.region", "message": "must be of type string"}]
    history = (await tenant.installation(slug))["history"]
    assert history[-1]["action"] == "config_update"
    assert "sk-live" not in str(history)


async def test_upgrade_needs_consent_for_new_permissions_and_keeps_old_on_failure(
    catalog, new_tenant
):
    slug = name("upg")
    await catalog.publish(slug, "1.0.0", permissions=["storage:read"])
    await catalog.publish(slug, "1.1.0", permissions=["storage:read", "network:outbound"])
    await catalog.publish(slug, "1.2.0", serve=b"corrupted")
    tenant = new_tenant()
    assert (
        await tenant.install(slug, version="1.0.0", accept_permissions=["storage:read"])
    ).status_code == 202
    await tenant.wait_state(slug, "enabled")

    refused = await tenant.post(f"/plugins/{slug}/upgrade", json={"version": "1.1.0"})
    assert refused.status_code == 422
    assert refused.json()["missing_permissions"] == ["network:outbound"]
    ok = await tenant.post(
        f"/plugins/{slug}/upgrade",
        json={"version": "1.1.0", "accept_permissions": ["network:outbound"]},
    )
    assert ok.status_code == 202, ok.text
    assert ok.json()["state"] == "updating"
    upgraded = await tenant.wait_state(slug, "enabled")
    assert upgraded["version"] == "1.1.0"
    assert upgraded["granted_permissions"] == ["storage:read", "network:outbound"]

    assert (
        await tenant.post(f"/plugins/{slug}/upgrade", json={"version": "1.2.0"})
    ).status_code == 202
    kept = await tenant.wait_state(slug, "enabled")
    assert kept["version"] == "1.1.0"
    assert "upgrade to 1.2.0 failed" in kept["reason"]
    assert [h["action"] for h in kept["history"]][-2:] == ["upgrade_requested", "upgrade_failed"]


async def test_another_tenants_installation_is_404_on_every_path(catalog, new_tenant):
    owner, other = new_tenant(), new_tenant()
    _base, top = await installed_pair(catalog, owner)
    inst = await owner.installation(top)
    for ref in (top, inst["plugin_id"]):
        assert (await other.get(f"/plugins/{ref}/installation")).status_code == 404
        for action in ("enable", "disable", "uninstall"):
            assert (await other.post(f"/plugins/{ref}/{action}")).status_code == 404
        assert (
            await other.post(f"/plugins/{ref}/upgrade", json={"version": "1.0.1"})
        ).status_code == 404
        put = await other.client.put(
            f"/api/v1/plugins/{ref}/config", json={"config": {}}, headers=other.headers()
        )
        assert put.status_code == 404
    assert (await other.get("/plugins/installed")).json()["items"] == []
    assert (await owner.installation(top))["state"] == "enabled"


async def test_illegal_transition_answers_409_with_current_state(catalog, new_tenant):
    tenant = new_tenant()
    _, top = await installed_pair(catalog, tenant, enable=False)
    response = await tenant.post(f"/plugins/{top}/disable")
    assert response.status_code == 409
    assert response.json()["current_state"] == "installed"


async def test_ban_disables_every_installation_and_blocks_installs(catalog, new_tenant, settings):
    slug = name("banned")
    await catalog.publish(slug, "1.0.0")
    tenants = [new_tenant() for _ in range(3)]
    for t in tenants:
        assert (await t.install(slug)).status_code == 202
        await t.wait_state(slug, "enabled")
    # In one tenant an enabled plugin depends on the banned one: it is disabled too.
    dependent = name("needs-banned")
    await catalog.publish(dependent, "1.0.0", deps={slug: "^1.0.0"})
    assert (await tenants[0].install(dependent)).status_code == 202
    await tenants[0].wait_state(dependent, "enabled")
    await catalog.ban(slug)
    for t in tenants:
        state = await t.wait_state(slug, "disabled")
        assert state["reason"] == "banned"
        assert state["history"][-1]["action"] == "ban"
    follower = await tenants[0].wait_state(dependent, "disabled")
    assert follower["reason"] == f"{slug} was banned"
    fresh = new_tenant()
    blocked = await fresh.install(slug)
    assert blocked.status_code == 410
    enable = await tenants[0].post(f"/plugins/{slug}/enable")
    assert enable.status_code == 410
    events = await collect_events(
        settings.kafka_bootstrap,
        INSTALLER_INSTALLATION.name,
        where=lambda e: e.data.get("slug") == slug and e.data.get("cause") == "plugin_banned",
        count=3,
    )
    assert {e.tenantid for e in events} == {t.id for t in tenants}


async def test_paid_plugins_trial_is_remembered_and_billing_activates(
    catalog, new_tenant, settings
):
    trial, lifetime = name("trial"), name("life")
    await catalog.publish(
        trial, "1.0.0", pricing={"free": False, "monthly": "10.00", "trial_days": 7}
    )
    await catalog.publish(lifetime, "1.0.0", pricing={"free": False, "lifetime": "49.99"})
    tenant = new_tenant()
    first = await tenant.install(trial)
    assert first.status_code == 202
    assert first.json()["plan"]["items"][0]["charge"]["kind"] == "trial"
    await tenant.wait_state(trial, "enabled")
    assert (await tenant.installation(trial))["entitlement"]["kind"] == "trial"
    await tenant.post(f"/plugins/{trial}/uninstall")
    await tenant.wait_state(trial, "uninstalled")
    # Reinstalling does not restart the trial: it is still the one that was started.
    again = await tenant.install(trial, dry_run=True)
    assert again.json()["plan"]["items"][0]["charge"]["kind"] == "entitled"

    pay = await tenant.install(lifetime)
    assert pay.status_code == 409
    assert pay.json()["type"].endswith("/payment-required")
    assert pay.json()["plugins"] == [lifetime]

    admin = mint_dev_token(settings, sub="billing-system", roles=["platform_admin"])
    denied = await tenant.post(
        "/admin/entitlements",
        json={"tenant_id": tenant.id, "plugin": lifetime, "kind": "lifetime", "gross": "49.99"},
    )
    assert denied.status_code == 403
    granted = await tenant.client.post(
        "/api/v1/admin/entitlements",
        json={"tenant_id": tenant.id, "plugin": lifetime, "kind": "lifetime", "gross": "49.99"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["developer_share"] == "34.99"
    assert granted.json()["platform_share"] == "15.00"
    assert (await tenant.install(lifetime)).status_code == 202
    done = await tenant.wait_state(lifetime, "enabled")
    assert done["entitlement"]["kind"] == "lifetime"
    events = await collect_events(
        settings.kafka_bootstrap,
        INSTALLER_ENTITLEMENT.name,
        where=lambda e: e.tenantid == tenant.id,
        count=2,
    )
    assert {e.data["kind"] for e in events} == {"trial", "lifetime"}


async def test_a_plugin_installed_again_reuses_its_row_and_keeps_its_history(catalog, new_tenant):
    slug = name("again")
    await catalog.publish(slug, "1.0.0")
    tenant = new_tenant()
    first = await tenant.install(slug)
    assert first.status_code == 202, first.text
    await tenant.wait_state(slug, "enabled")
    assert (await tenant.post(f"/plugins/{slug}/uninstall")).status_code == 202
    await tenant.wait_state(slug, "uninstalled")

    second = await tenant.install(slug, enable=False)
    assert second.status_code == 202, second.text
    assert second.json()["installation"]["id"] == first.json()["installation"]["id"]
    assert second.json()["installation"]["state"] == "installing"
    done = await tenant.wait_state(slug, "installed")
    moves = [(h["from_state"], h["to_state"]) for h in done["history"]]
    assert moves == [
        ("available", "installing"),
        ("installing", "installed"),
        ("installed", "enabled"),
        ("enabled", "uninstalling"),
        ("uninstalling", "uninstalled"),
        ("uninstalled", "installing"),
        ("installing", "installed"),
    ]
    assert [h["sequence"] for h in done["history"]] == list(range(1, 8))
    assert len(done["consents"]) == 2
