"""Sends one signed webhook: the SSRF guard, Standard Webhooks signing and the HTTP call.

- Every active secret of the installation signs (``standardwebhooks`` signs v1 only); the
  signatures are joined with a space, so during a rotation a receiver holding either secret
  verifies the delivery.
- The target's host is resolved before the call; a loopback, private, link-local, reserved,
  multicast or metadata address is refused unless the operator allows private targets. The
  call then goes to the host as given; redirects are never followed (a 3xx is a failure).
- One shared ``httpx.AsyncClient`` carries every call (connection reuse), with the settings'
  timeout for the whole attempt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from opentelemetry import propagate
from standardwebhooks import Webhook

from opscenter.hooks.deliveries.policy import AttemptResult, classify
from opscenter.hooks.deliveries.service import Work
from opscenter.hooks.tokens import HEADER as TOKEN_HEADER

#: Cloud metadata services answer on these even where they are not link-local.
METADATA_HOSTS = frozenset({"169.254.169.254", "fd00:ec2::254", "100.100.100.200"})


class TargetRefused(Exception):
    """The target may not be called (its address is private and not allowed, or unusable)."""


def body_bytes(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), sort_keys=True, default=str).encode()


def sign(secrets: Sequence[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    return " ".join(Webhook(s).sign(msg_id, timestamp, body) for s in secrets)


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        address in METADATA_HOSTS
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raises ``TargetRefused`` unless ``url`` may be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"not an absolute http(s) URL: {url[:200]!r}")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise TargetRefused(f"cannot resolve {parts.hostname!r}: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        if _forbidden(address):
            raise TargetRefused(f"{parts.hostname} resolves to a private address ({address})")


class WebhookSender:
    def __init__(self, *, timeout_s: float, allow_private: bool, max_connections: int) -> None:
        self._allow_private = allow_private
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"user-agent": "opscenter-hooks/1", "content-type": "application/json"},
        )
        self._timeout_s = timeout_s

    async def close(self) -> None:
        await self._client.aclose()

    async def attempt(self, work: Work, token: str) -> AttemptResult:
        """The pipeline's attempt: the installation token rides in its own header."""
        assert work.url is not None
        headers = {TOKEN_HEADER: token}
        # W3C trace context of the attempt's span: a receiver may continue the trace.
        propagate.inject(headers)
        return await self.send(
            work.url, str(work.delivery_id), work.message, work.secrets, datetime.now(UTC), headers
        )

    async def send(
        self,
        url: str,
        msg_id: str,
        message: dict[str, Any],
        secrets: Sequence[str],
        now: datetime,
        extra_headers: dict[str, str] | None = None,
    ) -> AttemptResult:
        """One attempt; never raises for anything the target does. ``extra_headers`` are
        sent too (unsigned: the installation token carries its own signature)."""
        started = time.perf_counter()

        def result(**kw: Any) -> AttemptResult:
            return AttemptResult(latency_ms=(time.perf_counter() - started) * 1000, **kw)

        try:
            await check_target(url, allow_private=self._allow_private)
        except TargetRefused as exc:
            return result(outcome="failed", status_code=None, error=f"target refused: {exc}")
        if not secrets:
            return result(outcome="failed", status_code=None, error="no webhook secret")
        body = body_bytes(message)
        try:
            signature = sign(secrets, msg_id, now, body.decode())
        except ValueError as exc:  # standardwebhooks' answer to an unusable secret
            return result(outcome="failed", status_code=None, error=f"cannot sign: {exc}")
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
            **(extra_headers or {}),
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return result(
                outcome="failed", status_code=None, error=f"timed out after {self._timeout_s:g}s"
            )
        except httpx.HTTPError as exc:
            return result(outcome="failed", status_code=None, error=f"{type(exc).__name__}: {exc}")
        code = response.status_code
        outcome = classify(code)
        error = None if outcome == "succeeded" else f"HTTP {code} {response.reason_phrase}"
        return result(
            outcome=outcome,
            status_code=code,
            error=error,
            retry_after=response.headers.get("retry-after"),
        )
