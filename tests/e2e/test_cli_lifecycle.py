"""The CLI's other commands against the running suite: keys, publish (dry run, idempotent retry,
readable refusals), the tenant's lifecycle commands, permissions diff and an upgrade that asks
consent for a new permission. No terminal here, so every consent needs ``--yes``."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from opscenter.sdk.cli.app import main
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def raw(self, *args: str) -> tuple[int, Any]:
        self.capsys.readouterr()
        code = main(["--json", *args])
        out = self.capsys.readouterr().out
        return code, (json.loads(out) if out.strip() else None)

    def __call__(self, *args: str, code: int = 0) -> Any:
        got, answer = self.raw(*args)
        assert got == code, (args, answer)
        return answer

    def until(self, code: int, *args: str, timeout_s: float = 90) -> Any:
        """Repeats the command until it exits with ``code`` (the installer learns of a new
        version through Kafka, so its first answers may be 404/409)."""
        deadline = time.monotonic() + timeout_s
        while True:
            got, answer = self.raw(*args)
            if got == code or time.monotonic() > deadline:
                assert got == code, (args, answer)
                return answer
            time.sleep(0.5)


def test_cli_publish_install_upgrade_uninstall(gateway_url, tmp_path, monkeypatch, capsys):
    run = uuid.uuid4().hex[:8]
    slug = f"cli-life-{run}"
    token = mint_dev_token(
        ServiceSettings(), sub=f"cli-{run}", tenant_id=f"cli-tenant-{run}",
        roles=["developer", "tenant_admin"], publisher_id=f"cli-pub-{run}",
    )  # fmt: skip
    monkeypatch.setenv("OPS_CENTER_CONFIG", str(tmp_path / "cfg" / "config.json"))
    monkeypatch.delenv("OPS_CENTER_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    cli = Cli(capsys)

    assert cli("whoami", code=2)["type"] == "not-logged-in"
    cli("login", "--url", gateway_url, "--token", token)
    assert (tmp_path / "cfg" / "config.json").stat().st_mode & 0o777 == 0o600
    assert cli("whoami")["publisher_id"] == f"cli-pub-{run}"

    key = cli("keys", "generate", "--register")["registered"]["key_id"]
    assert [k["key_id"] for k in cli("keys", "list")["items"]] == [key]

    cli("plugin", "init", slug)
    pkg = str(Path(cli("plugin", "package", slug)["path"]))
    cli("plugin", "sign", pkg)

    # A dry run checks on the server and publishes nothing (the plugin is not registered yet).
    refused = cli("plugin", "publish", pkg, "--dry-run", code=1)
    assert refused["status"] == 404
    published = cli("plugin", "publish", pkg)
    assert (published["version"], published["signed"]) == ("1.0.0", True)
    # A retry (same Idempotency-Key) answers as the first did; a new dry run names the conflict.
    assert cli("plugin", "publish", pkg) == published
    conflict = cli("plugin", "publish", pkg, "--dry-run", "--idempotency-key", run, code=1)
    assert (conflict["status"], conflict["errors"]) == (
        409, [{"field": "version", "message": "already exists"}],
    )  # fmt: skip
    assert cli("plugin", "verify", pkg)["valid"] is True
    # The same package signed with another key is another request: the version exists (409),
    # not a reused Idempotency-Key (422). Then the first key signs it again, as before.
    cli("keys", "generate", "--name", "second", "--register")
    cli("plugin", "sign", pkg, "--key", "second")
    again = cli("plugin", "publish", pkg, code=1)
    assert (again["status"], again["errors"]) == (
        409, [{"field": "version", "message": "already exists"}],
    )  # fmt: skip
    cli("plugin", "sign", pkg, "--key", "default")

    # Installing asks consent: without a terminal, only --yes gives it.
    needs = cli.until(2, "install", slug)
    assert (needs["type"], needs["permissions"]) == ("consent-required", ["api:devices:read"])
    cli("install", slug, "--yes", "-c", "greeting=hey")
    assert _state(cli, slug) == "enabled"
    assert cli("disable", slug)["state"] == "disabled"
    assert cli("enable", slug)["state"] == "enabled"
    assert cli("config", "set", slug, "greeting=hello again")["config"]["greeting"] == (
        "hello again"
    )
    bad = cli("config", "set", slug, "greeting=5", code=1)
    assert bad["status"] == 422
    assert bad["errors"] == [{"field": "config.greeting", "message": "must be of type string"}]

    # Version 1.1.0 adds network:outbound: the diff shows it, and the upgrade asks consent.
    manifest = tmp_path / slug / "plugin.yaml"
    text = manifest.read_text().replace("version: 1.0.0", "version: 1.1.0")
    manifest.write_text(text.replace("  - api:devices:read\n", "  - api:devices:read\n"
                                     "  - network:outbound\n"))  # fmt: skip
    pkg2 = cli("plugin", "package", slug)["path"]
    cli("plugin", "sign", pkg2)
    cli("plugin", "publish", pkg2)
    diff = cli("permissions", "diff", pkg, pkg2)
    assert (diff["added"], diff["removed"]) == (["network:outbound"], [])
    published_diff = cli("permissions", "diff", "1.0.0", "1.1.0", "--plugin", slug)
    assert published_diff["added"] == ["network:outbound"]
    asked = cli("upgrade", slug, "1.1.0", code=2)
    assert asked["permissions"] == ["network:outbound"]
    cli.until(0, "upgrade", slug, "1.1.0", "--yes")
    item = _item(cli, slug, lambda i: i["version"] == "1.1.0" and i["state"] == "enabled")
    assert (item["version"], item["state"]) == ("1.1.0", "enabled")
    assert "network:outbound" in item["granted_permissions"]

    assert cli("deliveries", "list", slug)["items"] == []
    assert cli.until(0, "analytics", slug)["slug"] == slug
    assert cli("uninstall", slug, code=2)["type"] == "confirmation-required"
    cli("uninstall", slug, "--yes")
    assert cli("keys", "revoke", key)["revoked_at"] is not None


def _item(cli: Cli, slug: str, ready: Any, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        items = [i for i in cli("list")["items"] if i["plugin"] == slug]
        if (items and ready(items[0])) or time.monotonic() > deadline:
            assert items, f"{slug} is not installed"
            return items[0]
        time.sleep(0.5)


def _state(cli: Cli, slug: str) -> str:
    return str(_item(cli, slug, lambda i: i["state"] == "enabled")["state"])
