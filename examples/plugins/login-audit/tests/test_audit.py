"""The login audit through the harness, and the SDK's decorator contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from opscenter.sdk import HookNotDeclared, Plugin
from opscenter.sdk.testing import Harness, NotDelivered

ROOT = Path(__file__).resolve().parents[1]


def test_a_login_is_audited_with_the_users_email():
    result = Harness.load(ROOT).emit("user.login")
    assert result.ok, result.error
    assert result.result == {
        "audited": True, "user": "user-17", "email": "ada@example.com", "flagged": True,
    }  # fmt: skip


def test_ignored_users_are_not_audited():
    result = Harness.load(ROOT, config={"ignored_users": ["user-17"]}).emit("user.login")
    assert result.result == {"audited": False}


def test_bad_config_is_refused_as_the_installer_refuses_it():
    with pytest.raises(ValueError, match=r"config\.flag_new_addresses: must be of type boolean"):
        Harness.load(ROOT, config={"flag_new_addresses": "yes"}).emit("user.login")


def test_without_the_users_grant_the_dispatcher_sends_nothing():
    with pytest.raises(NotDelivered):
        Harness.load(ROOT, granted=[]).emit("user.login")


def test_the_handler_imports_only_what_the_sandbox_has():
    """The harness runs the handler as the sandbox does (standard library and the plugin's
    files): a handler that imported the SDK would fail here as it would in production."""
    result = Harness.load(ROOT, config={"flag_new_addresses": False}).emit("user.login")
    assert result.ok, result.error
    assert result.result["flagged"] is False
    plugin = Plugin.from_manifest(ROOT)
    with pytest.raises(HookNotDeclared):
        plugin.on("device.created")
