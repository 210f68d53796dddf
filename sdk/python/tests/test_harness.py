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


IMPORTS = """\
def site_package(event, context):
    import httpx  # installed in this virtualenv, absent from the sandbox
    return httpx.__name__

def sdk(event, context):
    from opscenter.sdk import Context
    return Context.of(context).tenant_id

def own_module(event, context):
    import helper  # the plugin's own file: on the path, as /plugin is in the sandbox
    return helper.VALUE

def environment(event, context):
    import os, sys
    return {"environ": dict(os.environ), "flags": [sys.flags.isolated, sys.flags.no_site,
            sys.flags.dont_write_bytecode]}
"""


def _imports_plugin(tmp_path: Path, handler: str) -> Path:
    root = _plugin(tmp_path, handler)
    (root / "probe.py").write_text(IMPORTS)
    (root / "helper.py").write_text("VALUE = 'from the plugin folder'\n")
    return root


@pytest.mark.parametrize(("handler", "module"), [("site_package", "httpx"), ("sdk", "opscenter")])
def test_a_handler_importing_what_the_sandbox_lacks_fails_as_in_production(
    tmp_path, handler, module
):
    """The sandbox has the standard library and the plugin only: the same import fails here
    with the cause and error the sandbox's shim reports (``exception``, the exception's type
    and message), although this process can import the module."""
    __import__(module)  # present in the harness's own environment
    result = Harness.load(_imports_plugin(tmp_path, handler), config={"port": 1}).emit(
        "device.created"
    )
    assert (result.ok, result.cause) == (False, "exception")
    assert result.error == f"ModuleNotFoundError: No module named '{module}'"


def test_the_handler_sees_its_own_files_an_empty_environment_and_the_sandbox_flags(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("OPSCENTER_LEAK", "never in the child")
    root = _imports_plugin(tmp_path, "own_module")
    own = Harness.load(root, config={"port": 1}).emit("device.created")
    assert (own.ok, own.result) == (True, "from the plugin folder"), own.error
    assert not list(root.rglob("__pycache__")), "-B: no bytecode written into the plugin"
    env = Harness.load(_imports_plugin(tmp_path, "environment"), config={"port": 1}).emit(
        "device.created"
    )
    assert env.ok, env.error
    assert "OPSCENTER_LEAK" not in env.result["environ"]
    assert env.result["flags"] == [1, 1, 1]


def test_config_in_the_context_is_the_whole_config_with_secrets_in_plain(tmp_path):
    """What the dispatcher gives a handler: the installation's config, secret fields included
    as plain values (opened from the box the installer sealed to hooks)."""
    config = {"port": 8443, "token": "s3cr3t-token"}
    result = Harness.load(_plugin(tmp_path), config=config).emit("device.created")
    assert result.ok, result.error
    assert result.result["config"] == config
    assert result.context["config"] == config
