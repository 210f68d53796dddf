"""``Harness``: runs a plugin's handler locally the way the dispatcher will.

For one emitted event it checks, in the dispatcher's order: the manifest subscribes to the event
(``HookNotDeclared``), the manifest declares the event's permission (``PermissionNotDeclared``)
and the grant covers it (``NotDelivered``: the dispatcher would not send it), and the config is
valid against ``config_schema`` with the installer's code (``ConfigInvalid``). The event's data
(the hook catalog's example unless given) is trimmed with the contracts' ``trim_payload``, the
dispatcher's own function. A Python handler then runs in a fresh child process started as the
sandbox starts its workers (``python -I -S -B``, an empty environment, the plugin folder first
on ``sys.path``): it sees the standard library and the plugin's own files, never this
virtualenv's packages, so an import that would fail in production fails here too. It imports
``module:function``, with inet sockets refused unless ``network:outbound`` is granted, and is
killed at the dispatcher's deadline (``HANDLER_DEADLINE_S``). Its ``context["config"]`` has the
production shape: the whole config, secret fields in plain (as the dispatcher opens them). A
webhook hook instead yields the signed request the hooks service would send, for the plugin's
receiver to verify.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from opscenter.contracts.hook_events import (
    HANDLER_DEADLINE_S,
    HANDLER_START_TIMEOUT_S,
    hook_event,
    trim_payload,
)
from opscenter.contracts.permissions import Permission, covers
from opscenter.sdk import _runner, webhooks
from opscenter.sdk.config import load_config
from opscenter.sdk.plugin import Plugin

__all__ = [
    "HANDLER_DEADLINE_S",
    "HandlerResult",
    "Harness",
    "NotDelivered",
    "PermissionNotDeclared",
    "WebhookRequest",
]


_RUNNER = Path(_runner.__file__)
#: The sandbox's interpreter flags: isolated (no PYTHON* variables, no script or user site
#: directory on the path), no ``site`` (no site-packages), no bytecode written to the plugin.
SANDBOX_FLAGS = ("-I", "-S", "-B")


class PermissionNotDeclared(LookupError):
    """The manifest subscribes to an event without declaring the permission it needs."""


class NotDelivered(PermissionError):
    """The installation's grant does not cover the event: the dispatcher would not send it."""


@dataclass(frozen=True)
class HandlerResult:
    """One handler call; ``cause`` is ``ok`` exactly when ``ok`` (else exception, refused,
    timeout, memory or crashed), as on the delivery's attempt record."""

    ok: bool
    cause: str
    result: Any
    error: str | None
    latency_ms: float
    event: dict[str, Any]
    context: dict[str, Any]
    stderr: str = ""


@dataclass(frozen=True)
class WebhookRequest:
    """The POST the hooks service sends to a webhook hook's URL, signed with ``secret``."""

    url: str
    headers: dict[str, str]
    body: bytes
    secret: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Harness:
    plugin: Plugin
    config: Mapping[str, Any] = field(default_factory=dict)
    granted: tuple[str, ...] | None = None  # default: every permission the manifest declares
    deadline_s: float = HANDLER_DEADLINE_S
    #: Time to import the handler before the event is sent (not the event's deadline).
    start_timeout_s: float = HANDLER_START_TIMEOUT_S
    tenant_id: str = "t-harness"
    installation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    webhook_secret: str = "whsec_" + "aGFybmVzcy1zZWNyZXQtMzItYnl0ZXMtbG9uZyEhISE="
    _storage: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        config: Mapping[str, Any] | None = None,
        granted: Iterable[str] | None = None,
        deadline_s: float = HANDLER_DEADLINE_S,
    ) -> Harness:
        """A harness for the plugin whose ``plugin.yaml`` is at ``path`` (file or folder)."""
        return cls(
            Plugin.from_manifest(path),
            dict(config or {}),
            None if granted is None else tuple(granted),
            deadline_s,
        )

    @property
    def grant(self) -> tuple[str, ...]:
        if self.granted is not None:
            return self.granted
        return tuple(p.value for p in self.plugin.manifest.permissions)

    def _check(self, event_type: str) -> Any:
        hook = self.plugin.declared_hook(event_type)
        needed = hook_event(event_type).permission
        declared = [p.value for p in self.plugin.manifest.permissions]
        if needed is not None and not covers(declared, needed):
            raise PermissionNotDeclared(
                f"{event_type} needs permission {needed.value}; add it to permissions"
            )
        if needed is not None and not covers(self.grant, needed):
            raise NotDelivered(f"the grant does not cover {needed.value}: no delivery")
        load_config(self.plugin.manifest.config_schema, self.config)
        return hook

    def event(self, event_type: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The delivered event: the catalog example (or ``data``) trimmed to the grant."""
        payload = hook_event(event_type).example() if data is None else dict(data)
        return {
            "id": str(uuid.uuid4()),
            "type": event_type,
            "time": datetime.now(UTC).isoformat(),
            "tenant_id": payload.get("tenant_id", self.tenant_id),
            "data": trim_payload(event_type, payload, self.grant),
        }

    def context(self) -> dict[str, Any]:
        context: dict[str, Any] = {
            "delivery_id": str(uuid.uuid4()),
            "attempt": 1,
            "installation_id": self.installation_id,
            "tenant_id": self.tenant_id,
            "plugin_id": self.plugin.manifest.id,
            "permissions": list(self.grant),
            "config": dict(self.config),
            "token": None,
        }
        if covers(self.grant, Permission.STORAGE_READ):
            if self._storage is None:
                self._storage = tempfile.TemporaryDirectory(prefix="ops-center-storage-")
            context["storage"] = self._storage.name
        return context

    def emit(self, event_type: str, data: Mapping[str, Any] | None = None) -> HandlerResult:
        """Runs the Python handler subscribed to ``event_type`` (see the module's checks)."""
        hook = self._check(event_type)
        if hook.handler is None:
            raise TypeError(f"{event_type} is a webhook hook here: use webhook(...)")
        event, context = self.event(event_type, data), self.context()
        request = {
            "entrypoint": hook.handler,
            "event": event,
            "context": context,
            "network": covers(self.grant, Permission.NETWORK_OUTBOUND),
        }
        with tempfile.TemporaryFile() as stderr:
            child = subprocess.Popen(  # noqa: S603 - this interpreter, our runner file
                [sys.executable, *SANDBOX_FLAGS, str(_RUNNER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=self.plugin.root,
                env={},  # the sandbox's bubblewrap starts with --clearenv
            )
            try:
                return self._call(child, request, event, context, stderr)
            finally:
                if child.poll() is None:
                    child.kill()
                child.wait()

    def _call(
        self,
        child: subprocess.Popen[bytes],
        request: dict[str, Any],
        event: dict[str, Any],
        context: dict[str, Any],
        stderr: IO[bytes],
    ) -> HandlerResult:
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(json.dumps(request).encode() + b"\n")
        child.stdin.close()
        lines = _Lines(child.stdout)
        if lines.next(self.start_timeout_s) is None:
            child.kill()
            child.wait()
            return HandlerResult(
                False,
                "crashed",
                None,
                f"the handler did not start within {self.start_timeout_s:g} s",
                0.0,
                event,
                context,
                _read(stderr),
            )
        started = time.monotonic()
        line = lines.next(self.deadline_s)
        latency = (time.monotonic() - started) * 1000
        if line is None:
            timed_out = child.poll() is None
            child.kill()
            child.wait()
            if timed_out:
                return HandlerResult(
                    False,
                    "timeout",
                    None,
                    f"no answer within {self.deadline_s:g} s",
                    latency,
                    event,
                    context,
                    _read(stderr),
                )
            return HandlerResult(
                False,
                "crashed",
                None,
                f"the handler's process ended with code {child.returncode}",
                latency,
                event,
                context,
                _read(stderr),
            )
        reply = json.loads(line)
        child.wait()
        return HandlerResult(
            bool(reply["ok"]),
            reply["cause"],
            reply["result"],
            reply["error"],
            latency,
            event,
            context,
            _read(stderr),
        )

    def webhook(self, event_type: str, data: Mapping[str, Any] | None = None) -> WebhookRequest:
        """The signed request the hooks service sends for a webhook hook."""
        hook = self._check(event_type)
        if hook.url is None:
            raise TypeError(f"{event_type} is a handler hook here: use emit(...)")
        body = json.dumps(
            self.event(event_type, data), separators=(",", ":"), sort_keys=True
        ).encode()
        msg_id, stamp = str(uuid.uuid4()), int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": webhooks.sign(self.webhook_secret, msg_id, stamp, body),
        }
        return WebhookRequest(hook.url, headers, body, self.webhook_secret)


def _read(stream: IO[bytes]) -> str:
    stream.seek(0)
    return stream.read().decode("utf-8", "replace")


class _Lines:
    """Newline-terminated replies from a pipe, each awaited at most ``timeout_s``."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.fd = pipe.fileno()
        self.buffer = b""

    def next(self, timeout_s: float) -> bytes | None:
        """The next line, or None at the timeout or the end of the stream."""
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            while b"\n" not in self.buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    return None
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return None
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line
