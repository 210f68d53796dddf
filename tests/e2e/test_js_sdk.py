"""The JavaScript SDK against the suite itself: its typed client through the gateway (bearer
token, Idempotency-Key, problem+json as ProblemError), and its webhook verifier on signatures
made by the hooks service's own signing code. Needs sdk/js/dist, which `make test` builds
(`make js-sdk`) before pytest runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opscenter.hooks.deliveries.webhook import body_bytes, sign
from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.testing import bearer

SDK = REPO_ROOT / "sdk" / "js"
SCENARIO = Path(__file__).with_name("js_sdk_scenario.mjs")


def _node(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node is not installed (scripts/bootstrap.sh installs it)"
    assert (SDK / "dist" / "index.js").exists(), "sdk/js/dist is missing: run `make js-sdk`"
    return subprocess.run(
        [node, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _token(**claims: Any) -> str:
    return bearer(**claims)["Authorization"].removeprefix("Bearer ")


def test_js_client_through_the_gateway(gateway_url: str) -> None:
    run = uuid.uuid4().hex[:8]
    done = _node(
        [str(SCENARIO)],
        {
            "GATEWAY": gateway_url,
            "RUN": run,
            "SLUG": f"js-sdk-{run}",
            "DEVELOPER_TOKEN": _token(
                sub=f"dev-{run}", roles=["developer"], publisher_id=f"pub-{run}"
            ),
            "ADMIN_TOKEN": _token(sub=f"adm-{run}", tenant_id=f"t-{run}", roles=["tenant_admin"]),
        },
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    events = result["events"]
    assert events["ok"], events
    assert "device.created" in {e["name"] for e in events["data"]["items"]}

    assert result["installedAnonymous"]["ok"] is False
    assert result["installedAnonymous"]["status"] == 401
    assert result["installedAdmin"] == {"ok": True, "data": {"items": [], "next_cursor": None}}

    first, retried, again = (
        result["registerFirst"],
        result["registerRetried"],
        result["registerAgain"],
    )
    assert first["ok"], first
    assert first["data"]["slug"] == f"js-sdk-{run}"
    assert retried == first, "the same Idempotency-Key must replay the first answer"
    assert again["ok"] is False, again
    assert again["status"] == 409, again

    invalid = result["installInvalid"]
    assert invalid["ok"] is False
    assert invalid["status"] == 422, invalid
    assert [e["field"] for e in invalid["errors"]] == ["body.version"], invalid
    assert invalid["message"].startswith(f"{invalid['title']}: {invalid['detail']} (body.version: ")

    assert result["detail"]["ok"] is False
    assert result["detail"]["status"] == 404


VERIFY = """
import { verify } from "./dist/webhooks.js";
const [secret, id, stamp, signature, body] = process.argv.slice(1);
try {
  const headers = { "webhook-id": id, "webhook-timestamp": stamp, "webhook-signature": signature };
  verify(secret, headers, body);
  console.log("valid");
} catch (error) { console.log(`invalid: ${error.message}`); }
"""


def _js_verify(secret: str, msg_id: str, stamp: str, signature: str, body: str) -> str:
    done = subprocess.run(
        ["node", "--input-type=module", "-e", VERIFY, secret, msg_id, stamp, signature, body],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_js_verifier_accepts_what_the_hooks_service_signs() -> None:
    old, new = "whsec_" + "A" * 43 + "=", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    message = {
        "id": "evt-1",
        "type": "device.created",
        "time": "2026-12-02T10:00:00Z",
        "tenant_id": "t1",
        "data": {"device_id": "d-1", "name": "edge-é"},
    }
    body = body_bytes(message).decode()
    now = datetime.now(UTC)
    stamp = str(int(now.timestamp()))
    rotating = sign([old, new], "msg_1", now, body)

    assert _node(["--version"]).returncode == 0
    assert _js_verify(new, "msg_1", stamp, rotating, body) == "valid"
    assert _js_verify(old, "msg_1", stamp, sign([old], "msg_1", now, body), body) == "valid"
    assert _js_verify(new, "msg_1", stamp, rotating, body.replace("edge", "edgy")).startswith(
        "invalid: no webhook-signature matches"
    )
    stale = str(int(time.time()) - 301)
    assert _js_verify(new, "msg_1", stale, rotating, body).startswith(
        "invalid: the delivery is too old"
    )
