"""The harness enforces what the dispatcher enforces: declared hooks and permissions, the
grant, valid config, trimming with the contracts' function, the network rule and the deadline."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from opscenter.contracts.hook_events import HANDLER_DEADLINE_S, trim_payload
from opscenter.hooks.sandbox import SandboxSettings
from opscenter.sdk import ConfigInvalid, HookNotDeclared
from opscenter.sdk.testing import Harness, NotDelivered, PermissionNotDeclared

MANIFEST = """\
id: harness-probe
name: Harness Probe
version: 1.0.0
author: Tests
type: backend
category: other
entry_points:
  backend: probe.py:echo
permissions: [{permissions}]
hooks:
  - name: device.created
    handler: probe:{handler}
  - name: user.login
    handler: probe:echo
config_schema:
  type: object
  properties:
    port: {{type: integer}}
    token: {{type: string, secret: true}}
  required: [port]
"""

PROBE = """\
import socket, time

def echo(event, context):
    return {"event": event, "permissions": context["permissions"], "config": context["config"]}

def connect(event, context):
    with socket.create_connection(("127.0.0.1", context["config"]["port"]), timeout=2):
        return "connected"

def sleep(event, context):
    time.sleep(30)

async def coroutine(event, context):
    return "awaited"

def boom(event, context):
    raise RuntimeError("no luck")
"""


def _plugin(tmp_path: Path, handler: str = "echo", permissions: str = "api:devices:read, "
            "api:users:read, network:outbound") -> Path:  # fmt: skip
    (tmp_path / "plugin.yaml").write_text(MANIFEST.format(handler=handler, permissions=permissions))
    (tmp_path / "probe.py").write_text(PROBE)
    return tmp_path


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_the_deadline_is_the_dispatchers():
    assert Harness.__dataclass_fields__["deadline_s"].default == HANDLER_DEADLINE_S
    assert SandboxSettings().deadline_s == HANDLER_DEADLINE_S


def test_the_event_is_trimmed_with_the_contracts_function(tmp_path):
    harness = Harness.load(_plugin(tmp_path), config={"port": 1})
    data = {"device_id": "d1", "name": "n", "kind": "k", "injected": "never delivered"}
    result = harness.emit("device.created", data)
    assert result.ok, result.error
    delivered = result.result["event"]["data"]
    assert delivered == trim_payload("device.created", data, harness.grant)
    assert "injected" not in delivered


def test_config_is_checked_as_the_installer_checks_it(tmp_path):
    with pytest.raises(ConfigInvalid) as caught:
        Harness.load(_plugin(tmp_path), config={"port": "x"}).emit("device.created")
    assert caught.value.errors == [{"field": "config.port", "message": "must be of type integer"}]
    with pytest.raises(ConfigInvalid, match=r"config\.port: is required"):
        Harness.load(_plugin(tmp_path)).emit("device.created")


def test_undeclared_hooks_and_grants_are_refused(tmp_path):
    harness = Harness.load(_plugin(tmp_path), config={"port": 1})
    with pytest.raises(HookNotDeclared):
        harness.emit("device.deleted")
    with pytest.raises(NotDelivered):
        Harness.load(_plugin(tmp_path), config={"port": 1}, granted=["api:users:read"]).emit(
            "device.created"
        )
    # A manifest the catalog would refuse (hook without its permission) is refused here too.
    bare = harness.plugin.manifest.model_copy(update={"permissions": []})
    harness.plugin.manifest = bare
    with pytest.raises(PermissionNotDeclared, match="needs permission api:devices:read"):
        harness.emit("device.created")


def test_network_needs_the_grant(tmp_path, listener):
    root = _plugin(tmp_path, "connect")
    granted = Harness.load(root, config={"port": listener}).emit("device.created")
    assert (granted.ok, granted.result) == (True, "connected"), granted.error
    refused = Harness.load(root, config={"port": listener}, granted=["api:devices:read"]).emit(
        "device.created"
    )
    assert (refused.ok, refused.cause) == (False, "refused")
    assert "network:outbound" in (refused.error or "")


def test_a_handler_past_its_deadline_is_stopped(tmp_path):
    harness = Harness.load(_plugin(tmp_path, "sleep"), config={"port": 1}, deadline_s=1.0)
    result = harness.emit("device.created")
    assert (result.ok, result.cause) == (False, "timeout")
    assert result.latency_ms < 15_000


def test_coroutines_and_exceptions(tmp_path):
    assert (
        Harness.load(_plugin(tmp_path, "coroutine"), config={"port": 1})
        .emit("device.created")
        .result
        == "awaited"
    )
    failed = Harness.load(_plugin(tmp_path, "boom"), config={"port": 1}).emit("device.created")
    assert (failed.cause, failed.error) == ("exception", "RuntimeError: no luck")
