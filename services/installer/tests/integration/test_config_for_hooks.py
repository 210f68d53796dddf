"""The installation's config goes to hooks with every install, config update and upgrade:
non-secret values in clear, secret ones sealed to the hooks service's key. Read back from the
real Kafka topic, byte for byte."""

from __future__ import annotations

import json
import uuid
from typing import Any

from opscenter.contracts import (
    INSTALLER_INSTALLATION,
    CloudEvent,
    InstallationConfigSetV1,
    parse_payload,
)
from opscenter.installer.config import ConfigCipher
from opscenter.installer.republish_config import republish_all
from opscenter.servicekit.sealing import DEV_PRIVATE_KEY, Opener, generate_keypair
from opscenter.servicekit.testing import collect_records

SECRET = "sk-live-4f1d2c9e8b7a6051"  # long and random-looking: it cannot appear by chance
ROTATED = "sk-live-rotated-93c1e0a5d7"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "secret": True},
        "region": {"type": "string"},
    },
    "required": ["api_key", "region"],
}


def _config_set(record: Any, tenant_id: str) -> bool:
    headers = {k: v.decode() for k, v in record.headers}
    return (
        headers.get("ce_type") == InstallationConfigSetV1.event_type
        and json.loads(record.value)["tenantid"] == tenant_id
    )


async def test_config_reaches_kafka_with_secrets_sealed_to_hooks_only(
    catalog, new_tenant, settings
):
    slug = f"cfg-{uuid.uuid4().hex[:8]}"
    await catalog.publish(slug, "1.0.0", config_schema=SCHEMA)
    # 1.1.0 marks region secret too: after the upgrade it travels sealed as well.
    await catalog.publish(
        slug,
        "1.1.0",
        config_schema={
            **SCHEMA,
            "properties": {**SCHEMA["properties"], "region": {"type": "string", "secret": True}},
        },
    )
    tenant = new_tenant()
    installed = await tenant.install(
        slug, version="1.0.0", config={"api_key": SECRET, "region": "eu-west-1"}
    )
    assert installed.status_code == 202, installed.text
    installation_id = installed.json()["installation"]["id"]
    await tenant.wait_state(slug, "enabled")
    updated = await tenant.client.put(
        f"/api/v1/plugins/{slug}/config",
        json={"config": {"api_key": ROTATED, "region": "us-east-1"}},
        headers=tenant.headers(),
    )
    assert updated.status_code == 200, updated.text
    assert (await tenant.post(f"/plugins/{slug}/upgrade", json={"version": "1.1.0"})).is_success
    upgraded = await tenant.wait_state(slug, "enabled")
    assert upgraded["version"] == "1.1.0"

    records = await collect_records(
        settings.kafka_bootstrap,
        INSTALLER_INSTALLATION.name,
        where=lambda r: _config_set(r, tenant.id),
        count=3,
    )
    assert len(records) == 3
    for record in records:
        for raw in (record.value, record.key or b"", *(v for _, v in record.headers)):
            assert SECRET.encode() not in raw
            assert ROTATED.encode() not in raw
    events = [parse_payload(CloudEvent.from_json_bytes(r.value)) for r in records]
    assert all(isinstance(e, InstallationConfigSetV1) for e in events)
    install, update, upgrade = sorted(events, key=lambda e: e.sequence)  # type: ignore[attr-defined]
    assert [e.reason for e in (install, update, upgrade)] == ["install", "update", "upgrade"]
    assert [e.config for e in (install, update, upgrade)] == [
        {"region": "eu-west-1"},
        {"region": "us-east-1"},
        {},
    ]
    hooks_key = Opener(DEV_PRIVATE_KEY)  # the dev pair both services default to
    opened = []
    for event in (install, update, upgrade):
        assert str(event.installation_id) == installation_id
        assert event.secrets is not None
        assert event.secrets.key_id == hooks_key.key_id
        opened.append(json.loads(hooks_key.open(event.secrets.box, installation_id.encode())))
    assert opened == [
        {"api_key": SECRET},
        {"api_key": ROTATED},
        {"api_key": ROTATED, "region": "us-east-1"},
    ]
    assert upgrade.secrets is not None
    assert upgrade.secrets.paths == ["api_key", "region"]

    # Each config_set carries the sequence of the transition it came with.
    history = {h["sequence"]: h["action"] for h in upgraded["history"]}
    assert history[install.sequence] == "install_requested"
    assert history[update.sequence] == "config_update"
    assert history[upgrade.sequence] == "upgrade_succeeded"
    # The API still never answers a secret.
    assert upgraded["config"] == {"api_key": "********", "region": "********"}


async def test_republish_sends_every_live_config_sealed_to_the_current_hooks_key(
    catalog, new_tenant, settings, worker
):
    """The operator's command re-sends each live installation's config with its current
    sequence, sealed to the key the installer holds now (here a new pair: a key rotation)."""
    slug = f"rep-{uuid.uuid4().hex[:8]}"
    await catalog.publish(slug, "1.0.0", config_schema=SCHEMA)
    tenant = new_tenant()
    installed = await tenant.install(slug, config={"api_key": SECRET, "region": "eu-west-1"})
    assert installed.status_code == 202, installed.text
    installation_id = installed.json()["installation"]["id"]
    enabled = await tenant.wait_state(slug, "enabled")

    new_private, new_public = generate_keypair()
    cipher = ConfigCipher(settings.secret_key.get_secret_value(), new_public)
    sent = await republish_all(worker, cipher, page=2)  # pages of 2: the paging is exercised
    assert sent >= 1
    records = await collect_records(
        settings.kafka_bootstrap,
        INSTALLER_INSTALLATION.name,
        where=lambda r: _config_set(r, tenant.id) and b'"republish"' in r.value,
        count=1,
    )
    assert len(records) == 1
    assert SECRET.encode() not in records[0].value
    event = parse_payload(CloudEvent.from_json_bytes(records[0].value))
    assert isinstance(event, InstallationConfigSetV1)
    assert event.sequence == enabled["history"][-1]["sequence"], "the current sequence"
    assert (event.state, event.config) == ("enabled", {"region": "eu-west-1"})
    assert event.secrets is not None
    opened = Opener(new_private).open(event.secrets.box, installation_id.encode())
    assert json.loads(opened) == {"api_key": SECRET}
    # Nothing changed in the installer: no history row, the same state.
    after = await tenant.installation(slug)
    assert after["history"] == enabled["history"]
