"""Install plans end to end: API -> outbox -> Kafka -> worker -> artifact over HTTP -> store."""

from __future__ import annotations

import uuid
from pathlib import Path

from opscenter.contracts import INSTALLER_INSTALLATION
from opscenter.installer.installations.schemas import DryRunPlan, InstallAccepted
from opscenter.servicekit.testing import collect_events


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_dry_run_shows_the_whole_plan_and_changes_nothing(catalog, new_tenant):
    base, mid, top = name("base"), name("mid"), name("top")
    await catalog.publish(base, "1.0.0", permissions=["storage:read"])
    await catalog.publish(base, "1.2.0", permissions=["storage:read"])
    await catalog.publish(mid, "2.0.0", deps={base: "^1.0.0"}, permissions=["api:devices:read"])
    await catalog.publish(
        top,
        "1.0.0",
        deps={mid: "^2.0.0"},
        config_schema={
            "type": "object",
            "properties": {"url": {"type": "string"}},
            "required": ["url"],
        },
        pricing={"free": False, "monthly": "9.99", "trial_days": 14},
    )
    tenant = new_tenant()
    response = await tenant.install(top, dry_run=True)
    assert response.status_code == 200, response.text
    DryRunPlan.model_validate(response.json())  # the answer is the documented one
    plan = response.json()["plan"]
    assert [(i["plugin"], i["version"]) for i in plan["items"]] == [
        (base, "1.2.0"),
        (mid, "2.0.0"),
        (top, "1.0.0"),
    ]
    assert plan["permissions"] == ["api:devices:read", "storage:read"]
    assert plan["missing_permissions"] == ["api:devices:read", "storage:read"]
    assert plan["config_errors"] == [{"field": "config.url", "message": "is required"}]
    assert plan["items"][2]["charge"]["kind"] == "trial"
    assert plan["items"][2]["pricing"]["monthly"] == "9.99"
    listed = await tenant.get("/plugins/installed")
    assert listed.json()["items"] == []
    assert (await tenant.get(f"/plugins/{top}/installation")).status_code == 404


async def test_install_resolves_installs_and_enables_dependencies_first(
    catalog, new_tenant, settings
):
    base, top = name("base"), name("top")
    base_digest = await catalog.publish(base, "1.0.0", permissions=["storage:write"])
    top_digest = await catalog.publish(
        top, "1.0.0", deps={base: "^1.0.0"}, permissions=["storage:read"]
    )
    tenant = new_tenant()
    response = await tenant.install(top, accept_permissions=["storage:write"], enable=True)
    assert response.status_code == 202, response.text
    body = response.json()
    InstallAccepted.model_validate(body)  # the answer is the documented one
    assert body["installation"]["state"] == "installing"
    assert [i["plugin"] for i in body["plan"]["items"]] == [base, top]

    final = await tenant.wait_state(top, "enabled")
    assert (await tenant.installation(base))["state"] == "enabled"
    assert [h["to_state"] for h in final["history"]] == ["installing", "installed", "enabled"]
    assert final["consents"][0]["permissions"] == ["storage:read"]
    assert final["consents"][0]["granted_by"] == f"admin-{tenant.id}"
    assert final["dependencies"] == {base: "1.0.0"}
    for digest in (base_digest, top_digest):
        assert (Path(settings.install_root) / digest / "plugin.yaml").is_file()

    events = await collect_events(
        settings.kafka_bootstrap,
        INSTALLER_INSTALLATION.name,
        where=lambda e: e.tenantid == tenant.id,
        count=8,
    )
    kinds = [(e.data["slug"], e.type.split(".")[2]) for e in events]
    when = {k: e.time for k, e in zip(kinds, events, strict=True)}
    # Different keys land on different partitions: order shows in the events' times.
    assert when[(base, "enabled")] <= when[(top, "enabled")]
    assert set(kinds) == {
        (s, t) for s in (base, top) for t in ("requested", "config_set", "installed", "enabled")
    }
    listed = (await tenant.get("/plugins/installed")).json()["items"]
    assert {i["plugin"] for i in listed} == {base, top}
