"""What reviews publishes (read back from Kafka), and the projections it keeps of installer
events (redelivered, repeated and late ones; poison ones go to the DLQ)."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer

from opscenter.contracts import (
    REVIEWS_REVIEW,
    CloudEvent,
    InstallationEnabledV1,
    InstallationInstalledV1,
    InstallationState,
)
from opscenter.contracts.reviews import RatingSummaryChangedV1
from opscenter.reviews.summary import Summary
from opscenter.servicekit.testing import collect_events

SUMMARY = RatingSummaryChangedV1.event_type


def _of(plugin):
    return lambda e: e.data.get("plugin_id") == str(plugin.id)


async def test_each_change_publishes_its_event_and_the_whole_summary(
    client, plugin, reviewer, review_body, tokens, local_stack
):
    alice, bob = await reviewer(), await reviewer()
    a = (await client.post(plugin.reviews, json=review_body(5), headers=alice.headers)).json()
    b = (await client.post(plugin.reviews, json=review_body(2), headers=bob.headers)).json()
    await client.put(f"{plugin.reviews}/{a['id']}", json=review_body(4), headers=alice.headers)
    admin = tokens.admin()
    hide = f"/api/v1/admin/reviews/{b['id']}/hide"
    await client.put(hide, json={"hidden": True, "reason": "rude"}, headers=admin)
    await client.put(hide, json={"hidden": False, "reason": "appeal"}, headers=admin)
    assert (await client.delete(f"{plugin.reviews}/{b['id']}", headers=bob.headers)).is_success
    # A vote and a reply move no summary and publish nothing.
    await client.post(f"{plugin.reviews}/{a['id']}/helpful", headers=bob.headers)

    events = await collect_events(
        local_stack.kafka_bootstrap, REVIEWS_REVIEW.name, where=_of(plugin), count=12
    )
    assert [e.type for e in events] == [
        "reviews.review.created.v1",
        SUMMARY,
        "reviews.review.created.v1",
        SUMMARY,
        "reviews.review.updated.v1",
        SUMMARY,
        "reviews.review.deleted.v1",
        SUMMARY,
        "reviews.review.restored.v1",
        SUMMARY,
        "reviews.review.deleted.v1",
        SUMMARY,
    ]
    counts = [(e.data["count"], e.data["average"]) for e in events if e.type == SUMMARY]
    assert counts == [(1, 5.0), (2, 3.5), (2, 3.0), (1, 4.0), (2, 3.0), (1, 4.0)]
    assert events[4].data["previous_rating"] == 5
    assert events[6].data["by"] == "moderator"
    assert events[10].data["by"] == "author"
    assert events[0].tenantid == alice.tenant_id
    last = RatingSummaryChangedV1.model_validate(events[-1].data)
    assert last.histogram == {1: 0, 2: 0, 3: 0, 4: 1, 5: 0}
    assert last.bayesian_average == Summary.of({4: 1}).bayesian_average
    assert len({e.id for e in events}) == 12


async def test_installer_events_redelivered_repeated_or_late_keep_one_row(
    client, plugin, world, tokens, review_body
):
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    installation = uuid.uuid4()
    installed = world.installed(plugin, tenant, installation_id=installation, version="1.0.0")
    event_id = str(uuid.uuid4())
    await world.send(installed, event_id=event_id)
    await world.send(installed, event_id=event_id)  # redelivered: the inbox skips it
    await world.send(installed)  # the same transition under another event id
    enabled = InstallationEnabledV1(
        installation_id=installation,
        tenant_id=tenant,
        plugin_id=plugin.id,
        slug=plugin.slug,
        version="1.0.0",
        state=InstallationState.ENABLED,
        sequence=3,
    )
    await world.send(enabled)
    await world.wait_for(
        "SELECT 1 FROM installations WHERE sequence = 3 AND tenant_id = :t", t=tenant
    )
    await world.uninstall(plugin, tenant, installation, sequence=9)
    await world.send(enabled)  # late: older than what is held
    await world.send(installed)
    # A marker event behind them on the same partition (same tenant and plugin key).
    marker = uuid.uuid4()
    await world.send(world.installed(plugin, tenant, installation_id=marker, sequence=2))
    await world.wait_for("SELECT 1 FROM installations WHERE installation_id = :i", i=marker)
    rows = await world.rows(
        "SELECT installation_id, installed, sequence FROM installations"
        " WHERE tenant_id = :t AND installation_id <> :m",
        t=tenant,
        m=marker,
    )
    assert rows == [{"installation_id": installation, "installed": False, "sequence": 9}]
    inbox = await world.rows("SELECT 1 FROM inbox WHERE event_id = :e", e=event_id)
    assert len(inbox) == 1


async def test_a_poison_installer_event_goes_to_the_dlq_and_the_consumer_goes_on(
    plugin, world, local_stack
):
    # A well-formed envelope (other tests read this topic as CloudEvents) whose payload is not
    # an installation: no retry can apply it.
    bad = uuid.uuid4().hex
    poison = CloudEvent(
        source="/tests", type=InstallationInstalledV1.event_type, tenantid=bad, data={"m": bad}
    )
    await world.producer.send_and_wait("installer.installation", poison.to_json_bytes())
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    await world.install(plugin, tenant)  # applied after the poison one
    dead = await _dead_lettered(local_stack.kafka_bootstrap, "installer.installation.dlq", bad)
    assert dead


async def _dead_lettered(bootstrap: str, topic: str, needle: str) -> bool:
    """Whether a record holding ``needle`` reached ``topic`` (DLQ values are the raw bytes)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                if any(needle.encode() in (r.value or b"") for r in records):
                    return True
    finally:
        await consumer.stop()
    return False
