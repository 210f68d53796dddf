"""`make demo`, run as it is (``python -m scripts.demo``) against the test instance, and held to
what it printed: the plugins published, the plans and consents, handler and webhook
deliveries that succeeded, the webhook that the demo's receiver verified and forwarded, the
review counted by reviews and the catalog, and analytics counting the installs and deliveries.

The demo's plugins get a prefix of this run's own, so the publishing is real; then the
publishing step runs again with the same prefix, as a second `make demo` would, and finds
every version already published.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.testing import LocalStack

sys.path.append(str(REPO_ROOT))  # the demo is a script folder of the repository, not a package
from scripts.demo import flow
from scripts.demo.__main__ import cast


def _deliveries(summary: dict[str, Any], tenant: str, slug: str, event: str) -> list[Any]:
    items = summary["tenants"][tenant]["deliveries"][slug]
    return [d for d in items if d["event_type"] == event]


def test_the_demo_does_what_it_says(gateway_url: str, local_stack: LocalStack, tmp_path: Path):
    prefix = f"demo{uuid.uuid4().hex[:6]}"
    summary_file = tmp_path / "summary.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "scripts.demo", "--gateway", gateway_url,
            "--kafka", local_stack.kafka_bootstrap, "--prefix", prefix,
            "--summary", str(summary_file),
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr)
    s = json.loads(summary_file.read_text())
    slug = {name: f"{prefix}-{name}" for name in flow.PUBLISHED}
    inventory, audit = slug["device-inventory"], slug["login-audit"]
    onboarding, forwarder = slug["tenant-onboarding"], slug["device-alert-forwarder"]

    # Published with the CLI by two publishers, signed; the admin verified and featured one.
    assert s["published"] == {v: "published 1.0.0 (signed: True)" for v in slug.values()}
    listed = {i["slug"]: i for i in s["marketplace"]}
    assert {i["publisher"] for i in listed.values()} == set(flow.PUBLISHERS)
    assert (listed[inventory]["verified"], listed[inventory]["featured"]) == (True, True)
    assert inventory in s["featured"]
    assert listed[inventory]["install_count"] == 2

    # Plans: the onboarding page brings its dependency first; consent is what was granted.
    acme, globex = s["tenants"]
    plan = s["plans"][f"{acme}/{onboarding}"]
    assert [(i["plugin"], i["role"]) for i in plan["items"]] == [
        (audit, "dependency"),
        (onboarding, "requested"),
    ]
    installed = {i["plugin"]: i for i in s["tenants"][acme]["installed"]}
    assert {p: i["state"] for p, i in installed.items()} == dict.fromkeys(
        (audit, onboarding, inventory, forwarder), "enabled"
    )
    consents = s["tenants"][acme]["consents"][forwarder]
    assert consents[0]["permissions"] == ["api:devices:read", "network:outbound"]
    history = [h["action"] for h in s["tenants"][globex]["history"][inventory]]
    assert history[-2:] == ["config_update", "enable"], history
    globex_inventory = s["tenants"][globex]["installed"][0]
    assert globex_inventory["config"] == {"report_kinds": ["sensor"]}

    # Handlers ran in the sandbox and webhooks reached the demo's receiver.
    for tenant, plugin, event in (
        (acme, inventory, "device.created"),
        (acme, inventory, "device.updated"),
        (acme, onboarding, "tenant.created"),
        (globex, inventory, "device.created"),
    ):
        found = _deliveries(s, tenant, plugin, event)
        assert found, (tenant, plugin, event)
        assert all(d["target"] == "handler" for d in found)
        assert any(d["status"] == "succeeded" for d in found), found
    alert = _deliveries(s, acme, forwarder, "device.alert")
    assert [(d["target"], d["status"]) for d in alert][-1] == ("webhook", "succeeded"), alert
    assert alert[-1]["attempt_log"][-1]["status_code"] == 202
    # 202 is the example receiver's answer once the signature verified and the alert went on.
    assert [d["answered"] for d in s["receiver"]["deliveries"]][-1] == 202
    assert s["receiver"]["alerts"][-1]["title"].startswith("CRITICAL on device ")

    # The review is counted by reviews and by the catalog.
    assert s["review"]["rating"] == 5
    assert s["reviews"]["summary"]["count"] == 1
    assert (s["rating"]["count"], s["rating"]["average"]) == (1, 5.0)

    # Analytics counts the installs and the deliveries, with a latency.
    numbers = s["analytics"][inventory]
    assert numbers["installs"] == 2
    assert numbers["active_installs"] == 2
    assert numbers["hook_deliveries"] >= 1
    assert numbers["hook_latency_p95"] is not None

    # What was printed is what the summary says.
    assert "CRITICAL on device" in done.stdout
    assert f"{inventory}" in done.stdout

    # A second run publishes nothing new: every version is already there.
    again = cast(gateway_url, tmp_path / "again", prefix)
    try:
        flow.publish(again)
    finally:
        again.close()
    assert all(v.endswith("already published (an earlier run)") for v in again.published.values())
    assert again.plugin_ids == s["plugin_ids"]
