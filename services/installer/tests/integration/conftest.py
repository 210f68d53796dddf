"""Fixtures: a migrated database, the installer API, its worker and relay, a real HTTP artifact
server, and a catalog stand-in that publishes signed versions to Kafka."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import tarfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select, text

from opscenter.contracts import (
    ALL_TOPICS,
    EventPayload,
    PluginBannedV1,
    PluginVersionPublishedV1,
    PluginVersionYankedV1,
    PublisherKeyRegisteredV1,
    new_event,
    record_for_event,
    validate_manifest,
)
from opscenter.installer import models
from opscenter.installer.main import create_app
from opscenter.installer.models import CatalogVersion, PublisherKey
from opscenter.installer.settings import InstallerSettings
from opscenter.installer.worker import build_executor, make_consumers
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.consumer import subscribe
from opscenter.servicekit.kafka import create_broker, ensure_topics
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import (
    LocalStack,
    drop_database,
    migrated_database,
    running_relay,
)

PUBLISHER = "pub-installer-tests"


class ArtifactServer:
    """A real HTTP server on 127.0.0.1 serving ``/api/v1/artifacts/sha256/<digest>``."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.requests: list[str] = []
        blobs, requests = self.blobs, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                prefix = "/api/v1/artifacts/sha256/"
                digest = self.path.removeprefix(prefix)
                body = blobs.get(digest) if self.path.startswith(prefix) else None
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="session")
def artifact_server() -> Iterator[ArtifactServer]:
    server = ArtifactServer()
    server.thread.start()
    yield server
    server.server.shutdown()


@pytest.fixture(scope="session")
async def db_url(local_stack: LocalStack) -> AsyncIterator[str]:
    url = await migrated_database(local_stack, "installer")
    yield url
    await drop_database(local_stack, url)


@pytest.fixture(scope="session")
def settings(
    db_url: str, local_stack: LocalStack, artifact_server: ArtifactServer, tmp_path_factory: Any
) -> InstallerSettings:
    return InstallerSettings(
        database_url=db_url,
        kafka_bootstrap=local_stack.kafka_bootstrap,
        catalog_url=artifact_server.url,
        install_root=str(tmp_path_factory.mktemp("installs")),
        # A unique name keeps this run's consumer groups apart from other runs.
        service_name=f"installer-t{uuid.uuid4().hex[:8]}",
        log_json=False,
    )


async def _start_groups_at_end(bootstrap: str, groups: list[tuple[str, list[str]]]) -> None:
    """New groups start at the topics' current end: earlier runs' events are not ours."""
    for group, topics in groups:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            await admin.start()
            try:
                described = await admin.describe_topics(topics)
            finally:
                await admin.close()
            parts = [
                TopicPartition(d["topic"], p["partition"])
                for d in described
                for p in d["partitions"]
            ]
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            await consumer.commit({tp: offset for tp, offset in ends.items()})
        finally:
            await consumer.stop()


@pytest.fixture(scope="session")
async def worker(settings: InstallerSettings) -> AsyncIterator[ServiceRuntime]:
    """The installer's worker (its three consumers) and outbox relay, in-process."""
    await ensure_topics(settings.kafka_bootstrap, ALL_TOPICS)
    runtime = ServiceRuntime.create(settings, models)
    broker = create_broker(settings)
    consumers = make_consumers(runtime, broker, build_executor(settings))
    await _start_groups_at_end(
        settings.kafka_bootstrap, [(c.name, list(c.topics)) for c in consumers]
    )
    for consumer in consumers:
        subscribe(broker, consumer, max_records=100)
    await broker.start()
    async with running_relay(settings.database_url, settings.kafka_bootstrap):
        yield runtime
    await broker.stop()
    await runtime.dispose()


@pytest.fixture(scope="session")
async def client(
    settings: InstallerSettings, worker: ServiceRuntime
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield http
    await app.state.runtime.dispose()


def make_package(slug: str, version: str, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        files = {"plugin.yaml": f"id: {slug}\nversion: {version}\n".encode(), **(extra or {})}
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Catalog:
    """Stands in for the catalog service: publishes its events to Kafka and serves artifacts."""

    settings: InstallerSettings
    runtime: ServiceRuntime
    server: ArtifactServer
    producer: AIOKafkaProducer
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    key_id: uuid.UUID = field(default_factory=uuid.uuid4)
    plugin_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    digests: dict[tuple[str, str], str] = field(default_factory=dict)

    async def send(self, payload: EventPayload) -> None:
        record = record_for_event(new_event(payload, source="/opscenter/catalog"))
        await self.producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )

    async def register_key(self) -> None:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        await self.send(
            PublisherKeyRegisteredV1(
                publisher_id=PUBLISHER,
                key_id=self.key_id,
                public_key=base64.b64encode(raw).decode(),
                fingerprint=hashlib.sha256(raw).hexdigest(),
                registered_at=datetime.now(UTC),
            )
        )
        await self.wait_for(select(PublisherKey).where(PublisherKey.key_id == str(self.key_id)))

    async def publish(
        self,
        slug: str,
        version: str,
        *,
        deps: dict[str, str] | None = None,
        permissions: list[str] | None = None,
        config_schema: dict[str, Any] | None = None,
        pricing: dict[str, Any] | None = None,
        signed: bool = True,
        serve: bytes | None = None,
    ) -> str:
        """Publishes a version and waits for the projection; ``serve`` replaces the bytes the
        artifact server answers (to simulate a corrupted artifact). Returns the digest."""
        plugin_id = self.plugin_ids.setdefault(slug, uuid.uuid4())
        package = make_package(slug, version, {"backend/main.py": f"V = {version!r}\n".encode()})
        digest = hashlib.sha256(package).hexdigest()
        self.server.blobs[digest] = serve if serve is not None else package
        self.digests[(slug, version)] = digest
        manifest: dict[str, Any] = {
            "id": slug,
            "name": slug.title(),
            "version": version,
            "author": "Tests",
            "type": "backend",
            "category": "monitoring",
            "entry_points": {"backend": "backend/main.py:App"},
            "dependencies": {"plugins": deps or {}},
            "permissions": permissions or [],
            "pricing": pricing or {"free": True},
        }
        if config_schema is not None:
            manifest["config_schema"] = config_schema
        signature = None
        if signed:
            signature = base64.b64encode(self.key.sign(bytes.fromhex(digest))).decode()
        await self.send(
            PluginVersionPublishedV1(
                plugin_id=plugin_id,
                slug=slug,
                publisher_id=PUBLISHER,
                version=version,
                manifest=validate_manifest(manifest),
                digest=digest,
                size=len(package),
                signature=signature,
                signing_key_id=str(self.key_id) if signed else None,
                artifact_path=f"/api/v1/plugins/marketplace/{slug}/versions/{version}/package",
                published_at=datetime.now(UTC),
            )
        )
        await self.wait_for(
            select(CatalogVersion).where(
                CatalogVersion.slug == slug, CatalogVersion.version == version
            )
        )
        return digest

    async def yank(self, slug: str, version: str) -> None:
        await self.send(
            PluginVersionYankedV1(
                plugin_id=self.plugin_ids[slug], slug=slug, version=version, reason="broken"
            )
        )
        await self.wait_for(
            select(CatalogVersion).where(
                CatalogVersion.slug == slug,
                CatalogVersion.version == version,
                CatalogVersion.yanked.is_(True),
            )
        )

    async def ban(self, slug: str) -> None:
        await self.send(
            PluginBannedV1(plugin_id=self.plugin_ids[slug], slug=slug, reason="malware")
        )
        await self.wait_for(
            text("SELECT 1 FROM catalog_plugins WHERE slug = :s AND banned").bindparams(s=slug)
        )

    async def wait_for(self, stmt: Any, timeout_s: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            async with self.runtime.sessions() as session:
                if (await session.execute(stmt)).first() is not None:
                    return
            await asyncio.sleep(0.05)
        raise AssertionError(f"projection never showed: {stmt}")


@pytest.fixture(scope="session")
async def catalog(
    settings: InstallerSettings, worker: ServiceRuntime, artifact_server: ArtifactServer
) -> AsyncIterator[Catalog]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    cat = Catalog(settings, worker, artifact_server, producer)
    await cat.register_key()
    yield cat
    await producer.stop()


@dataclass
class Tenant:
    """A tenant with an admin and a member token, driving the API."""

    id: str
    client: httpx.AsyncClient
    admin: str
    member: str

    def headers(self, *, admin: bool = True, key: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.admin if admin else self.member}"}
        if key:
            h["Idempotency-Key"] = key
        return h

    async def install(self, plugin: str, **body: Any) -> httpx.Response:
        key = body.pop("idempotency_key", None)
        return await self.client.post(
            "/api/v1/plugins/install",
            json={"plugin": plugin, **body},
            headers=self.headers(key=key),
        )

    async def post(self, path: str, json: Any = None, key: str | None = None) -> httpx.Response:
        return await self.client.post(f"/api/v1{path}", json=json, headers=self.headers(key=key))

    async def get(self, path: str, *, admin: bool = False) -> httpx.Response:
        return await self.client.get(f"/api/v1{path}", headers=self.headers(admin=admin))

    async def installation(self, plugin: str) -> dict[str, Any]:
        response = await self.get(f"/plugins/{plugin}/installation")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait_state(
        self, plugin: str, *states: str, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        body: dict[str, Any] = {}
        while asyncio.get_running_loop().time() < deadline:
            body = await self.installation(plugin)
            if body["state"] in states:
                return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"{plugin} never reached {states}: {body.get('state')} {body}")


@pytest.fixture
def new_tenant(settings: InstallerSettings, client: httpx.AsyncClient) -> Any:
    def make() -> Tenant:
        tenant_id = f"tenant-{uuid.uuid4().hex[:10]}"
        return Tenant(
            tenant_id,
            client,
            mint_dev_token(
                settings, sub=f"admin-{tenant_id}", tenant_id=tenant_id, roles=["tenant_admin"]
            ),
            mint_dev_token(
                settings, sub=f"member-{tenant_id}", tenant_id=tenant_id, roles=["member"]
            ),
        )

    return make
