"""Standard Webhooks (v1, HMAC-SHA256) verification for webhook plugins.

The hooks service signs ``{webhook-id}.{webhook-timestamp}.{body}`` with every active secret of
the installation and sends the signatures space-separated in ``webhook-signature`` (``v1,<b64>``
each), so a receiver holding either secret verifies during a rotation. A delivery verifies when
one ``v1`` signature matches and the timestamp is within ``tolerance_s`` of now (either way).
The shared vectors in ``sdk/vectors/webhooks.json`` hold this module and the JS SDK to the same
answers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["DEFAULT_TOLERANCE_S", "WebhookVerificationError", "sign", "verify"]

DEFAULT_TOLERANCE_S = 300
_PREFIX = "whsec_"


class WebhookVerificationError(ValueError):
    """The delivery is not authentic (or too old, or too new); the message says which."""


def _key(secret: str) -> bytes:
    raw = secret[len(_PREFIX) :] if secret.startswith(_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError("the secret is not base64 (whsec_...)") from exc


def _text(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``v1,<base64>`` signature of one delivery (what the hooks service sends)."""
    content = f"{msg_id}.{timestamp}.".encode() + _text(body)
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"the {name} header is missing")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Returns when the delivery is authentic; raises ``WebhookVerificationError`` otherwise.

    ``body`` must be the raw request body, byte for byte (never re-serialized JSON)."""
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance_s:
        raise WebhookVerificationError("the delivery is too old (webhook-timestamp)")
    if timestamp > current + tolerance_s:
        raise WebhookVerificationError("the delivery is too new (webhook-timestamp)")
    expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1]
    for candidate in _header(headers, "webhook-signature").split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return
    raise WebhookVerificationError("no webhook-signature matches (wrong secret or changed body)")
