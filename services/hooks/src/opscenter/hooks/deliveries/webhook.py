"""Sends one signed webhook: the SSRF guard, Standard Webhooks signing and the HTTP call.

- Every active secret of the installation signs (``standardwebhooks`` signs v1 only); the
  signatures are joined with a space, so during a rotation a receiver holding either secret
  verifies the delivery.
- A loopback, private, link-local, reserved, multicast or metadata address is refused unless
  the operator allows private targets. The check is made on the addresses the connection
  itself uses (``GuardedResolver`` is the client's resolver; an IP literal is checked before
  the call), so a name that resolves differently between a check and the call (DNS
  rebinding) cannot reach a refused address. Redirects are never followed (a 3xx is a
  failure).
- One shared ``aiohttp.ClientSession`` carries every call (connection reuse), with the
  settings' timeout for the whole attempt. (httpx's pool made a call cost ten times as much
  CPU here: bench/RESULTS.md, 2026-12-08.)
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

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from opentelemetry import propagate
from standardwebhooks import Webhook

from opscenter.hooks.deliveries.policy import AttemptResult, classify
from opscenter.hooks.deliveries.service import Work
from opscenter.hooks.tokens import HEADER as TOKEN_HEADER

#: Cloud metadata services answer on these even where they are not link-local.
METADATA_HOSTS = frozenset({"169.254.169.254", "fd00:ec2::254", "100.100.100.200"})


#: At most this much of a response body is read (only so the connection can be reused).
_BODY_READ_CAP = 64 * 1024


class TargetRefused(OSError):
    """The target may not be called (its address is private and not allowed, or unusable).
    An OSError, so that raised from the client's resolver it reaches the caller as the cause
    of aiohttp's connection error."""


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


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _checked_url(url: str, *, allow_private: bool) -> tuple[str, int]:
    """``(host, port)`` of ``url``; refuses what needs no resolution to refuse: a URL that is
    not absolute http(s), and a private IP literal."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"not an absolute http(s) URL: {url[:200]!r}")
    if not allow_private and _is_ip(parts.hostname) and _forbidden(parts.hostname):
        raise TargetRefused(f"{parts.hostname} is a private address")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


async def _resolve(host: str, port: int, family: int, *, allow_private: bool) -> list[str]:
    """The addresses of ``host``; refuses them all if any is private and not allowed."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise TargetRefused(f"cannot resolve {host!r}: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        for address in addresses:
            if _forbidden(address):
                raise TargetRefused(f"{host} resolves to a private address ({address})")
    return addresses


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raises ``TargetRefused`` unless ``url`` may be called (its name resolved now)."""
    host, port = _checked_url(url, allow_private=allow_private)
    if not _is_ip(host):
        await _resolve(host, port, socket.AF_UNSPEC, allow_private=allow_private)


class GuardedResolver(AbstractResolver):
    """The webhook client's resolver: the connection goes only to addresses it vetted."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await _resolve(host, port, family, allow_private=self._allow_private)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def webhook_session(
    *, timeout_s: float, allow_private: bool, max_connections: int
) -> aiohttp.ClientSession:
    """The client every attempt shares (the bench's bare baseline posts with one like it).
    Created inside the running event loop."""
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        resolver=GuardedResolver(allow_private=allow_private),
        ttl_dns_cache=10,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        headers={"user-agent": "opscenter-hooks/1", "content-type": "application/json"},
        auto_decompress=False,
    )


class WebhookSender:
    def __init__(self, *, timeout_s: float, allow_private: bool, max_connections: int) -> None:
        self._allow_private = allow_private
        self._max_connections = max_connections
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # aiohttp binds a session to the loop it is made in
            self._session = webhook_session(
                timeout_s=self._timeout_s,
                allow_private=self._allow_private,
                max_connections=self._max_connections,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

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
            _checked_url(url, allow_private=self._allow_private)
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
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.content.read(_BODY_READ_CAP)
                code, reason = response.status, response.reason or ""
                retry_after = response.headers.get("retry-after")
        except TimeoutError:  # aiohttp's timeouts are asyncio.TimeoutError (the builtin)
            return result(
                outcome="failed", status_code=None, error=f"timed out after {self._timeout_s:g}s"
            )
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, TargetRefused):
                return result(
                    outcome="failed", status_code=None, error=f"target refused: {exc.os_error}"
                )
            return result(outcome="failed", status_code=None, error=f"{type(exc).__name__}: {exc}")
        except aiohttp.ClientError as exc:
            return result(outcome="failed", status_code=None, error=f"{type(exc).__name__}: {exc}")
        outcome = classify(code)
        error = None if outcome == "succeeded" else f"HTTP {code} {reason}"
        return result(outcome=outcome, status_code=code, error=error, retry_after=retry_after)
