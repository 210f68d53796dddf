"""Creates the tenant's onboarding checklist when the tenant is created (standard library only;
the checklist lives in the installation's storage, where the frontend page reads it)."""

from __future__ import annotations

import json
import os
from typing import Any

DEFAULT_STEPS = ["invite your team", "connect a device", "review login audit"]


def on_tenant_created(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    steps = context.get("config", {}).get("steps") or DEFAULT_STEPS
    checklist = {
        "tenant": event["data"].get("name") or event["tenant_id"],
        "tier": event["data"].get("tier"),
        "steps": [{"title": s, "done": False} for s in steps],
    }
    with open(os.path.join(context["storage"], "checklist.json"), "w") as f:
        json.dump(checklist, f)
    return {"steps": len(steps)}
