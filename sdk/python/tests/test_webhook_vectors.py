"""The shared Standard Webhooks vectors (``sdk/vectors/webhooks.json``, also read by the JS
SDK's verifier) pass the Python verifier, and the hooks service's signer agrees with ours."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opscenter.sdk.webhooks import WebhookVerificationError, sign, verify

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "webhooks.json").read_text()
)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_vector(case):
    headers = {
        "webhook-id": case["id"],
        "webhook-timestamp": str(case["timestamp"]),
        "webhook-signature": case["signature"],
    }
    check = lambda: verify(  # noqa: E731
        case["secret"], headers, case["payload"], tolerance_s=VECTORS["tolerance_s"],
        now=case["now"],
    )  # fmt: skip
    if case["valid"]:
        check()
    else:
        with pytest.raises(WebhookVerificationError):
            check()


def test_the_vectors_cover_valid_and_invalid_cases():
    assert {c["valid"] for c in VECTORS["cases"]} == {True, False}


def test_our_signature_is_the_hooks_services_signature():
    from opscenter.hooks.deliveries.webhook import sign as hooks_sign

    secret = VECTORS["cases"][0]["secret"]
    stamp = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    body = '{"id":"e1","type":"device.created"}'
    assert hooks_sign([secret], "msg_1", stamp, body) == sign(
        secret, "msg_1", int(stamp.timestamp()), body
    )


def test_header_names_are_case_insensitive_and_required():
    case = VECTORS["cases"][0]
    headers = {
        "Webhook-Id": case["id"],
        "Webhook-Timestamp": str(case["timestamp"]),
        "Webhook-Signature": case["signature"],
    }
    verify(case["secret"], headers, case["payload"], now=case["now"])
    del headers["Webhook-Signature"]
    with pytest.raises(WebhookVerificationError, match="webhook-signature header is missing"):
        verify(case["secret"], headers, case["payload"], now=case["now"])
