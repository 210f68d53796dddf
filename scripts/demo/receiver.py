"""The demo's own webhook receiver on loopback: the server a tenant runs for the
``device-alert-forwarder`` example.

``POST /hooks`` is where the hooks service delivers (the installation's endpoint is set to it).
It runs the example's own ``receive`` function, which checks the Standard Webhooks signature
with the installation's secret and forwards a severe enough alert to the configured
``alert_url``, here ``POST /alerts`` of this same server, standing for the tenant's alerting
service. Both are recorded, so the demo can show what arrived and what was forwarded.

The hooks service only calls loopback when the operator allows private targets
(``HOOKS_ALLOW_PRIVATE_TARGETS``, which ``deploy/local/suite.py`` sets on local instances).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugins" / "device-alert-forwarder"


def _example_receive() -> Callable[..., int]:
    """The example's ``receiver.py:receive``, loaded from its file (examples are not a
    package): the demo runs the plugin developer's code, not a copy of it."""
    spec = importlib.util.spec_from_file_location(
        "demo_forwarder_receiver", EXAMPLE / "receiver.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    receive: Callable[..., int] = module.receive
    return receive


@dataclass
class Received:
    """One webhook delivery as the receiver saw it."""

    webhook_id: str
    event_type: str
    answered: int


@dataclass
class Receiver:
    """Started with ``start()``; ``secret`` and ``config`` are set once the installation
    exists (until then every delivery is answered 401, as a receiver without its secret would)."""

    secret: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    deliveries: list[Received] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> None:
        receive = _example_receive()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path == "/alerts":
                    receiver.alerts.append(json.loads(body))
                    self._answer(202)
                    return
                if self.path != "/hooks":
                    self._answer(404)
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = 401
                if receiver.secret is not None:
                    status = receive(headers, body, secret=receiver.secret, config=receiver.config)
                event_type = json.loads(body).get("type", "?") if body else "?"
                receiver.deliveries.append(
                    Received(headers.get("webhook-id", "?"), event_type, status)
                )
                self._answer(status)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the demo prints what arrived itself

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
