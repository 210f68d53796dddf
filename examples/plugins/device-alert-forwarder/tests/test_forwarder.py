"""The forwarder receives the hooks service's signed request (built by the harness) and posts
to a real local HTTP server standing in for the alerting service."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from opscenter.sdk import ConfigInvalid
from opscenter.sdk.testing import Harness, NotDelivered

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("forwarder_receiver", ROOT / "receiver.py")
assert spec
assert spec.loader
receiver = importlib.util.module_from_spec(spec)
spec.loader.exec_module(receiver)


@pytest.fixture
def alert_api():
    received: list[tuple[dict[str, str], dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["content-length"])
            received.append((dict(self.headers), json.loads(self.rfile.read(length))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()


def _config(url: str) -> dict[str, str]:
    return {"api_key": "k-123", "alert_url": url, "min_severity": "warning"}


def test_a_signed_alert_is_forwarded_with_the_api_key(alert_api):
    url, received = alert_api
    harness = Harness.load(ROOT, config=_config(url))
    request = harness.webhook("device.alert", {**_alert(), "severity": "critical"})
    assert request.url == "https://alerts.example.com/ops-center/hooks"
    status = receiver.receive(
        request.headers, request.body, secret=request.secret, config=_config(url)
    )
    assert status == 202
    ((headers, message),) = received
    assert headers["Authorization"] == "Bearer k-123"
    assert message["title"] == "CRITICAL on device dev-42"


def test_a_tampered_delivery_is_refused_and_nothing_is_sent(alert_api):
    url, received = alert_api
    request = Harness.load(ROOT, config=_config(url)).webhook("device.alert")
    body = request.body.replace(b"dev-42", b"dev-43")
    status = receiver.receive(request.headers, body, secret=request.secret, config=_config(url))
    assert status == 401
    assert received == []


def test_below_the_threshold_nothing_is_sent(alert_api):
    url, received = alert_api
    request = Harness.load(ROOT, config=_config(url)).webhook(
        "device.alert", {**_alert(), "severity": "info"}
    )
    assert receiver.receive(request.headers, request.body, secret=request.secret,
                            config=_config(url)) == 204  # fmt: skip
    assert received == []


def test_the_api_key_is_required_and_a_secret():
    with pytest.raises(ConfigInvalid, match=r"config\.api_key: is required"):
        Harness.load(ROOT, config={"alert_url": "http://x"}).webhook("device.alert")
    config = Harness.load(ROOT).plugin.config(_config("http://x"))
    assert "k-123" not in repr(config)
    assert config.api_key.get_secret_value() == "k-123"


def test_without_the_devices_grant_no_alert_is_delivered():
    harness = Harness.load(ROOT, config=_config("http://x"), granted=["network:outbound"])
    with pytest.raises(NotDelivered):
        harness.webhook("device.alert")


def _alert() -> dict:
    from opscenter.contracts.hook_events import hook_event

    return hook_event("device.alert").example()
