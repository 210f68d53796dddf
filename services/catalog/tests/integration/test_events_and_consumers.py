"""Every catalog event read back from Kafka; the rating and install-count consumers fed
through Kafka."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from opscenter.catalog import worker
from opscenter.catalog.main import create_app
from opscenter.catalog.projections.handlers import on_installation_event, on_review_event
from opscenter.catalog.testing import Signer, manifest, package
from opscenter.contracts import (
    CATALOG_PLUGIN,
    CATALOG_PUBLISHER,
    INSTALLER_INSTALLATION,
    REVIEWS_REVIEW,
    InstallationInstalledV1,
    InstallationState,
    InstallationUninstalledV1,
    new_event,
    parse_payload,
    record_for_event,
)
from opscenter.contracts.reviews import RatingSummaryChangedV1
from opscenter.servicekit.consumer import subscribe
from opscenter.servicekit.kafka import create_broker, ensure_topics
from opscenter.servicekit.testing import collect_events, running_relay, start_groups_at_end


async def test_every_event_is_published_to_kafka(
    client, tokens, register, upload, publisher, db_url, local_stack
):
    await ensure_topics(local_stack.kafka_bootstrap, [CATALOG_PLUGIN, CATALOG_PUBLISHER])
    signer = Signer()
    key = (
        await client.post(
            "/api/v1/plugins/publishers/me/keys",
            json={"public_key": signer.public_b64},
            headers=tokens.developer(publisher),
        )
    ).json()
    plugin = await register(publisher, name="Evented")
    pid, slug = plugin["id"], plugin["slug"]
    data = package(manifest(slug, "1.0.0", name="Evented Plugin"))
    r = await upload(publisher, data, signature=signer.sign(data), changelog="first")
    assert r.status_code == 201, r.text
    admin = tokens.admin()
    base = f"/api/v1/admin/plugins/{slug}"
    assert (await client.put(f"{base}/verify", json={"verified": True}, headers=admin)).is_success
    assert (
        await client.put(f"{base}/feature", json={"featured": True, "rank": 2}, headers=admin)
    ).is_success
    pkg = f"/api/v1/plugins/marketplace/{slug}/versions/1.0.0/package"
    assert (await client.get(pkg, headers=tokens.member("tenant-ev"))).is_success
    assert (await client.get(pkg, headers=tokens.member("tenant-ev"))).is_success  # not again
    y = await client.put(f"{base}/versions/1.0.0/yank", json={"reason": "bad"}, headers=admin)
    assert y.is_success
    d = await client.put(f"{base}/deprecate", json={"reason": "old"}, headers=admin)
    assert d.is_success
    assert (await client.delete(f"{base}/ban?reason=malware", headers=admin)).is_success
    revoked = await client.delete(
        f"/api/v1/plugins/publishers/me/keys/{key['key_id']}", headers=tokens.developer(publisher)
    )
    assert revoked.is_success

    async with running_relay(db_url, local_stack.kafka_bootstrap):
        events = await collect_events(
            local_stack.kafka_bootstrap,
            CATALOG_PLUGIN.name,
            where=lambda e: e.data.get("plugin_id") == pid,
            count=9,
        )
        key_events = await collect_events(
            local_stack.kafka_bootstrap,
            CATALOG_PUBLISHER.name,
            where=lambda e: e.data.get("key_id") == key["key_id"],
            count=2,
        )
    types = [e.type for e in events]
    assert types == [
        "catalog.plugin.registered.v1",
        "catalog.plugin.version_published.v1",
        "catalog.plugin.updated.v1",
        "catalog.plugin.verified.v1",
        "catalog.plugin.featured.v1",
        "catalog.plugin.downloaded.v1",
        "catalog.plugin.version_yanked.v1",
        "catalog.plugin.deprecated.v1",
        "catalog.plugin.banned.v1",
    ], types
    published = parse_payload(events[1])
    assert published.digest == hashlib.sha256(data).hexdigest()
    assert published.size == len(data)
    assert published.manifest.id == slug
    assert published.manifest.name == "Evented Plugin"
    assert published.signing_key_id == key["key_id"]
    raw_sig = base64.b64decode(published.signature)
    assert signer.private.public_key().verify(raw_sig, hashlib.sha256(data).digest()) is None
    assert published.artifact_path == f"/api/v1/plugins/marketplace/{slug}/versions/1.0.0/package"
    assert events[2].data["changed"] == ["name", "description", "tags"]
    assert events[5].data["tenant_id"] == "tenant-ev"
    assert events[5].tenantid == "tenant-ev"
    assert events[8].data["reason"] == "malware"
    assert [e.type for e in key_events] == [
        "catalog.publisher.key_registered.v1",
        "catalog.publisher.key_revoked.v1",
    ]
    assert key_events[0].data["public_key"] == signer.public_b64


async def _plugin_row(db_url: str, pid: str) -> dict:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT rating_average, rating_count, rating_bayesian, rating_histogram,"
                        " install_count FROM plugins WHERE id = :id"
                    ),
                    {"id": pid},
                )
            ).one()
            return dict(row._mapping)
    finally:
        await engine.dispose()


async def _wait_for(db_url, pid, check, wait_s=30.0):
    deadline = asyncio.get_running_loop().time() + wait_s
    row = await _plugin_row(db_url, pid)
    while not check(row) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.3)
        row = await _plugin_row(db_url, pid)
    return row


def _installation(cls, pid, slug, iid, seq, state):
    return cls(
        installation_id=iid,
        tenant_id=f"tenant-{iid.hex[:4]}",
        plugin_id=pid,
        slug=slug,
        version="1.0.0",
        state=state,
        sequence=seq,
    )


async def test_rating_and_install_consumers_update_listings(
    client, publish, publisher, settings, db_url, local_stack
):
    p = await publish(publisher)
    pid, slug = uuid.UUID(p["plugin_id"]), p["slug"]
    bootstrap = local_stack.kafka_bootstrap
    await ensure_topics(bootstrap, [REVIEWS_REVIEW, INSTALLER_INSTALLATION])
    app = create_app(settings)
    runtime = app.state.runtime
    broker = create_broker(settings)
    suffix = uuid.uuid4().hex[:6]
    consumers = (
        runtime.consumer(broker, f"ratings-{suffix}", [REVIEWS_REVIEW.name], on_review_event),
        runtime.consumer(
            broker, f"installs-{suffix}", [INSTALLER_INSTALLATION.name], on_installation_event
        ),
    )
    # Only this test's events: other tests (reviews, installer) fill these topics too.
    await start_groups_at_end(bootstrap, [(c.name, list(c.topics)) for c in consumers])
    for consumer in consumers:
        subscribe(broker, consumer)
    await broker.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        summary = RatingSummaryChangedV1(
            plugin_id=pid,
            slug=slug,
            average=4.5,
            bayesian_average=4.0,
            count=4,
            histogram={1: 0, 2: 0, 3: 0, 4: 2, 5: 2},
        )
        i1, i2 = uuid.uuid4(), uuid.uuid4()
        S = InstallationState
        events = [
            new_event(summary, source="/tests"),
            new_event(
                _installation(InstallationInstalledV1, pid, slug, i1, 2, S.INSTALLED), source="/t"
            ),
            new_event(
                _installation(InstallationInstalledV1, pid, slug, i2, 2, S.INSTALLED), source="/t"
            ),
            new_event(
                _installation(InstallationUninstalledV1, pid, slug, i2, 5, S.UNINSTALLED),
                source="/t",
            ),
        ]
        for ev in [*events, events[1]]:  # the last one is a redelivery of i1's install
            rec = record_for_event(ev)
            await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)
        row = await _wait_for(
            db_url, p["plugin_id"], lambda r: r["rating_count"] == 4 and r["install_count"] == 1
        )
        await asyncio.sleep(1.0)  # let the redelivery be processed too
        row = await _plugin_row(db_url, p["plugin_id"])
    finally:
        await producer.stop()
        await broker.stop()
        await runtime.dispose()
    assert row["rating_count"] == 4
    assert row["rating_average"] == 4.5
    assert row["rating_histogram"] == {"1": 0, "2": 0, "3": 0, "4": 2, "5": 2}
    assert abs(row["rating_bayesian"] - (10 * 3.0 + 4.5 * 4) / 14) < 1e-9
    assert row["install_count"] == 1
    listed = (await client.get(f"/api/v1/plugins/marketplace/{slug}")).json()
    assert listed["install_count"] == 1
    assert listed["rating"]["count"] == 4


def test_worker_wires_the_two_consumers(settings):
    app = create_app(settings)
    consumers = worker.consumers(app.state.runtime, create_broker(settings))
    assert {(c.name, tuple(c.topics)) for c in consumers} == {
        ("catalog.ratings", ("reviews.review",)),
        ("catalog.install-counts", ("installer.installation",)),
    }
