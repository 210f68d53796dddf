"""The handler's typed views: the context's grant rules and HTTP client, typed events, typed
config with secrets, and the decorator's registration rules."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from opscenter.contracts.errors import UnknownEventType
from opscenter.contracts.platform import DeviceCreatedV1
from opscenter.sdk import Context, HookNotDeclared, PermissionNotGranted, Plugin

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "plugins"


def test_the_http_client_needs_network_outbound():
    with pytest.raises(PermissionNotGranted, match="network:outbound"):
        Context.of({"permissions": ["api:devices:read"]}).http()
    with Context.of({"permissions": ["network:outbound"]}).http() as client:
        assert isinstance(client, httpx.Client)
    admin = Context.of({"permissions": ["admin:*"]})
    assert admin.granted("network:outbound")
    assert admin.granted("api:users:read")


def test_write_covers_read_and_unknown_keys_are_ignored():
    ctx = Context.of({"permissions": ["storage:write"], "future_key": 1, "attempt": 3})
    assert ctx.granted("storage:read")
    assert not ctx.granted("api:devices:read")
    assert ctx.attempt == 3


def test_events_and_config_are_typed():
    plugin = Plugin.from_manifest(EXAMPLES / "device-alert-forwarder")
    config = plugin.config({"api_key": "s3", "alert_url": "https://a.example"})
    assert isinstance(config.api_key, SecretStr)
    assert config.min_severity == "warning"
    inventory = Plugin.from_manifest(EXAMPLES / "device-inventory")
    event = inventory.event(
        {"id": "e1", "type": "device.created", "time": "2026-12-02T10:00:00+00:00",
         "tenant_id": "t1", "data": DeviceCreatedV1.example().model_dump(mode="json")}
    )  # fmt: skip
    assert isinstance(event.data, DeviceCreatedV1)
    assert event.data.device_id == "dev-42"
    with pytest.raises(UnknownEventType):
        inventory.event({"type": "device.exploded", "data": {}})


def test_registering_checks_the_manifest_and_returns_the_function():
    plugin = Plugin.from_manifest(EXAMPLES / "device-inventory")

    def handler(event, context):
        return None

    assert plugin.on("device.created")(handler) is handler
    assert plugin.handlers["device.created"] is handler
    with pytest.raises(HookNotDeclared):
        plugin.on("user.login")
    with pytest.raises(UnknownEventType):
        plugin.on("device.exploded")
