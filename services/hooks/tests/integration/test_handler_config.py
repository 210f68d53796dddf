"""A handler's ``context["config"]``: the installation's config as the installer last set it,
secrets opened from the box sealed to hooks, in the real sandbox; an older config never
replaces a newer one; a box sealed to another key fails the attempt without a word of it."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from opscenter.contracts.manifest import HookSpec
from opscenter.hooks.sandbox import SandboxSettings
from opscenter.hooks.sandbox.testing import uid_base_for_tests
from opscenter.hooks.testing import (
    ArtifactServer,
    Call,
    Hooks,
    Receiver,
    Signer,
    device_created,
    package_bytes,
    tenant,
)
from opscenter.servicekit.sealing import generate_keypair

UID_BASE = uid_base_for_tests(400)
SECRET = "sk-live-7d3e91c0b2a4f658"
ROTATED = "sk-live-rotated-0a9b8c7d6e"

REPORTER = textwrap.dedent(
    """
    import http.client, json

    def report(event, context):
        body = json.dumps({"device": event["data"]["device_id"], "config": context["config"]})
        connection = http.client.HTTPConnection(HOST, PORT, timeout=5)
        connection.request("POST", "/from-handler", body)
        return connection.getresponse().status
    """
)


def sandbox() -> SandboxSettings:
    return SandboxSettings(
        uid_base=UID_BASE,
        uid_count=32,
        max_pools=4,
        workers_per_pool=2,
        deadline_s=5.0,
        nproc=16,
        allow_loopback=True,
    )


async def _installed_reporter(
    hooks: Hooks, catalog: ArtifactServer, receiver: Receiver, seen: list[Call]
) -> tuple[str, uuid.UUID, uuid.UUID]:
    def record(call: Call, n: int) -> web.Response:
        seen.append(call)
        return web.Response(status=204)

    receiver.on("from-handler", record)
    signer = Signer()
    await hooks.register_key(signer)
    plugin = uuid.uuid4()
    files = {"handlers.py": f"HOST, PORT = '127.0.0.1', {receiver.port}\n" + REPORTER}
    await hooks.publish_version(plugin, catalog.add(package_bytes(files)), signer)
    t = tenant()
    installation, _ = await hooks.enable(
        t,
        [HookSpec(name="device.created", handler="handlers:report")],
        ["api:devices:read", "network:outbound"],
        plugin_id=plugin,
    )
    return t, installation, plugin


def _settings(tmp_path: Path, catalog: ArtifactServer) -> dict[str, Any]:
    return {
        "package_root": str(tmp_path / "packages"),
        "storage_root": str(tmp_path / "storage"),
        "catalog_url": catalog.url,
        "lease_s": 30.0,
        "retry_schedule_s": (0.0,),
    }


async def test_the_handler_gets_its_config_with_secrets_and_the_next_delivery_sees_an_update(
    hooks: Hooks, catalog: ArtifactServer, receiver: Receiver, tmp_path: Path
):
    seen: list[Call] = []
    t, installation, plugin = await _installed_reporter(hooks, catalog, receiver, seen)
    await hooks.set_config(
        t,
        installation,
        plugin,
        {"region": "eu-west-1", "db": {"host": "h"}},
        {"api_key": SECRET, "db.password": "pw-1"},
        sequence=5,
    )
    # A late, older config (a redelivery from before) changes nothing.
    await hooks.set_config(
        t, installation, plugin, {"region": "old"}, {"api_key": "old"}, sequence=3
    )
    await hooks.publish(device_created(t, "dev-1"))

    async with hooks.dispatching(sandbox(), **_settings(tmp_path, catalog)):
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'pending'", lambda r: not r, timeout_s=60
        )
        await hooks.set_config(
            t, installation, plugin, {"region": "us-east-1"}, {"api_key": ROTATED}, sequence=6
        )
        await hooks.publish(device_created(t, "dev-2"))
        await hooks.wait_for(
            "SELECT status FROM deliveries WHERE status = 'succeeded'",
            lambda r: len(r) == 2,
            timeout_s=60,
        )

    assert [c.body for c in seen] == [
        {
            "device": "dev-1",
            "config": {
                "region": "eu-west-1",
                "db": {"host": "h", "password": "pw-1"},
                "api_key": SECRET,
            },
        },
        {"device": "dev-2", "config": {"region": "us-east-1", "api_key": ROTATED}},
    ]
    stored = await hooks.rows(
        "SELECT sequence, config::text, secrets::text FROM installation_configs"
        " WHERE installation_id = :i",
        i=installation,
    )
    assert len(stored) == 1
    assert stored[0][0] == 6
    assert SECRET not in str(stored), "kept sealed at rest"
    assert ROTATED not in str(stored)
    attempts = await hooks.rows("SELECT cause, coalesce(error, '') FROM delivery_attempts")
    assert [c for c, _ in attempts] == ["ok", "ok"]


async def test_secrets_sealed_to_another_key_fail_the_attempt_until_republished_to_ours(
    hooks: Hooks, catalog: ArtifactServer, receiver: Receiver, tmp_path: Path
):
    """A box sealed to another key (the installer held an old hooks key) fails the attempt,
    naming keys and never values; the installer's republish of the same config (same sequence)
    sealed to this key replaces it, and the next delivery has its secret."""
    seen: list[Call] = []
    t, installation, plugin = await _installed_reporter(hooks, catalog, receiver, seen)
    _, other_public = generate_keypair()
    set_at = await hooks.set_config(
        t, installation, plugin, {"region": "eu"}, {"api_key": SECRET}, public_key=other_public
    )
    await hooks.publish(device_created(t, "dev-1"))
    async with hooks.dispatching(sandbox(), **_settings(tmp_path, catalog)):
        attempts = await hooks.wait_for(
            "SELECT a.cause, a.error FROM delivery_attempts a", bool, timeout_s=60
        )
        assert seen == [], "the handler never ran without its config"
        assert attempts[0][0] == "config"
        assert "HOOKS_CONFIG_PRIVATE_KEY" in attempts[0][1]
        assert SECRET not in attempts[0][1]
        await hooks.set_config(
            t, installation, plugin, {"region": "eu"}, {"api_key": SECRET}, sequence=set_at.sequence
        )
        await hooks.publish(device_created(t, "dev-2"))
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'succeeded'", bool, timeout_s=60
        )
    assert [c.body for c in seen] == [
        {"device": "dev-2", "config": {"region": "eu", "api_key": SECRET}}
    ]


async def test_uninstall_empties_the_config_and_an_older_one_cannot_bring_it_back(hooks: Hooks):
    t = tenant()
    installation, plugin = await hooks.enable(t, [])
    await hooks.set_config(
        t, installation, plugin, {"region": "eu"}, {"api_key": SECRET}, sequence=2
    )
    await hooks.uninstall(t, installation, plugin, sequence=4)
    await hooks.set_config(
        t, installation, plugin, {"region": "eu"}, {"api_key": SECRET}, sequence=3
    )
    rows = await hooks.rows(
        "SELECT sequence, config::text, secrets FROM installation_configs"
        " WHERE installation_id = :i",
        i=installation,
    )
    assert rows == [(4, "{}", None)]
    state = await hooks.rows(
        "SELECT state FROM subscriptions WHERE installation_id = :i", i=installation
    )
    assert state == [("uninstalled",)]
