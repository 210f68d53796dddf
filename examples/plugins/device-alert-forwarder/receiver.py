"""The forwarder's webhook receiver: runs on your server, not in the platform's sandbox.

``receive`` takes one delivery (headers and the raw body), verifies its Standard Webhooks
signature, and forwards alerts at or above ``min_severity`` to ``alert_url`` with the secret
``api_key``. It answers the HTTP status your web framework should return.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from opscenter.sdk import WebhookVerificationError, verify

SEVERITIES = ("info", "warning", "critical")


def receive(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str,
    config: Mapping[str, Any],
    client: httpx.Client | None = None,
) -> int:
    try:
        verify(secret, headers, body)
    except WebhookVerificationError:
        return 401
    event = json.loads(body)
    if event["type"] != "device.alert":
        return 204
    alert = event["data"]
    threshold = SEVERITIES.index(config.get("min_severity", "warning"))
    if SEVERITIES.index(alert.get("severity", "info")) < threshold:
        return 204
    message = {
        "title": f"{alert.get('severity', 'info').upper()} on device {alert['device_id']}",
        "text": alert.get("message", ""),
        "tenant": event["tenant_id"],
        "dedup_key": event["id"],
    }
    http = client or httpx.Client(timeout=5.0)
    r = http.post(
        config["alert_url"], json=message, headers={"Authorization": f"Bearer {config['api_key']}"}
    )
    return 202 if r.is_success else 502
