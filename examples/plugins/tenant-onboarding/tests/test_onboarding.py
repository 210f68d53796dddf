"""The onboarding handler through the harness, and its manifest's dependency and page."""

from __future__ import annotations

import json
from pathlib import Path

from opscenter.sdk.packaging import check_folder
from opscenter.sdk.testing import Harness

ROOT = Path(__file__).resolve().parents[1]


def test_a_new_tenant_gets_its_checklist_in_storage():
    harness = Harness.load(ROOT, config={"steps": ["invite your team", "connect a device"]})
    result = harness.emit("tenant.created")
    assert result.ok, result.error
    assert result.result == {"steps": 2}
    checklist = json.loads((Path(result.context["storage"]) / "checklist.json").read_text())
    assert checklist["tenant"] == "Acme Corp"
    assert [s["title"] for s in checklist["steps"]] == ["invite your team", "connect a device"]


def test_it_depends_on_login_audit_1_and_has_a_page():
    manifest = check_folder(ROOT)
    assert manifest.dependencies.plugins == {"login-audit": "^1.0.0"}
    assert (ROOT / manifest.entry_points.frontend).is_file()
