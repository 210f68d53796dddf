"""The plugin developer's guide, run as written against the running suite: every ``ops-center``
line of its ``sh`` blocks, in order, from ``plugin init`` to an enabled plugin whose handler
received ``device.created`` and whose delivery record says so.

Only the plugin's slug is made unique per run (the suite's catalog outlives a test run, and a
published version is immutable); the platform's part, a device being created, is a
``device.created`` event on ``ops.platform`` sent with the contracts' publisher helper.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from opscenter.contracts.platform import DeviceCreatedV1
from opscenter.contracts.publisher import PlatformEventPublisher
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import LocalStack

GUIDE = REPO_ROOT / "docs" / "plugin-developer-guide.md"
GUIDE_SLUG = "device-inventory"


def guide_commands() -> list[str]:
    """The ``ops-center`` lines of the guide's ``sh`` blocks, in order."""
    blocks = re.findall(r"^```sh\n(.*?)^```", GUIDE.read_text(), flags=re.M | re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip().startswith("ops-center ")
    ]


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def cli_json(command: str, cwd: Path, env: dict[str, str]) -> Any:
    done = run(command.replace("ops-center ", "ops-center --json ", 1), cwd, env)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return json.loads(done.stdout)


def test_the_guide_has_at_most_ten_commands_from_init_to_deliveries():
    commands = guide_commands()
    assert len(commands) <= 10, commands
    assert any(c.startswith("ops-center plugin init ") for c in commands)
    assert commands[-1].startswith("ops-center deliveries list ")


async def _emit_device_created(bootstrap: str, tenant: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        payload = DeviceCreatedV1.example().model_copy(update={"tenant_id": tenant})
        await PlatformEventPublisher(producer).publish(payload, source="tests/e2e/guide")
    finally:
        await producer.stop()


async def test_developer_guide_end_to_end(
    gateway_url: str, local_stack: LocalStack, tmp_path: Path
):
    run_id = uuid.uuid4().hex[:8]
    slug, tenant = f"{GUIDE_SLUG}-{run_id}", f"guide-tenant-{run_id}"
    token = mint_dev_token(
        ServiceSettings(),
        sub=f"guide-dev-{run_id}",
        tenant_id=tenant,
        roles=["developer", "tenant_admin"],
        publisher_id=f"guide-pub-{run_id}",
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
        "OPS_CENTER_URL": gateway_url,
        "OPS_CENTER_TOKEN": token,
    }
    env.pop("OPS_CENTER_CONFIG", None)
    work = tmp_path / "work"
    work.mkdir()
    commands = [c.replace(GUIDE_SLUG, slug) for c in guide_commands()]
    *steps, list_deliveries = commands
    for command in steps:
        done = run(command, work, env)
        assert done.returncode == 0, (command, done.stdout, done.stderr)

    # The login file holds the token, readable by its owner only.
    config_file = tmp_path / "home" / ".config" / "ops-center" / "config.json"
    assert config_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(config_file.read_text())["token"] == token

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", headers=headers) as api:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        state = None
        while loop.time() < deadline:
            r = await api.get(f"/plugins/{slug}/installation")
            state = r.json().get("state") if r.status_code == 200 else r.status_code
            if state == "enabled":
                break
            await asyncio.sleep(0.5)
        assert state == "enabled", r.text
        assert r.json()["granted_permissions"] == ["api:devices:read"]

        # A device is created: the platform emits device.created until a delivery is recorded
        # (the hooks service learns of the enabled installation through Kafka, in its own time).
        listed: Any = {"items": []}
        deadline = loop.time() + 120
        while loop.time() < deadline and not listed["items"]:
            await _emit_device_created(local_stack.kafka_bootstrap, tenant)
            for _ in range(20):
                listed = cli_json(list_deliveries, work, env)
                if any(d["status"] not in ("pending", "in_flight") for d in listed["items"]):
                    break
                await asyncio.sleep(0.5)
        # On main, handler hooks are not even recorded as deliveries until handler mode merges.
        assert listed["items"], "no delivery of device.created was recorded"
        delivery = listed["items"][-1]
        assert (delivery["event_type"], delivery["target"]) == ("device.created", "handler")
        # Needs the dispatcher's handler mode (hooks-handler branch): until it merges, handler
        # deliveries are recorded but not executed, and this last assertion fails.
        assert delivery["status"] == "succeeded", delivery
        assert delivery["attempt_log"][-1]["outcome"] == "succeeded"

    # The human form of the guide's last command shows the same record.
    done = run(list_deliveries, work, env)
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout, done.stdout
