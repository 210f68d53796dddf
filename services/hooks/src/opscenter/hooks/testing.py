"""Test harness of the hooks service, for its tests and bench/hooks.py: the service's real
consumers fed real records on a migrated database, its API over ASGI, a dispatcher running
in-process, webhook receivers (``webhook_receiver.Receiver``, re-exported here), and a
catalog stand-in serving signed handler
packages over HTTP at the catalog's content-addressed path."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text

from opscenter.contracts import (
    CloudEvent,
    EventPayload,
    InstallationConfigSetV1,
    InstallationDisabledV1,
    InstallationEnabledV1,
    InstallationUninstalledV1,
    PluginVersionPublishedV1,
    PublisherKeyRegisteredV1,
    SealedConfigSecrets,
    new_event,
)
from opscenter.contracts.catalog import artifact_path
from opscenter.contracts.manifest import HookSpec, Manifest, validate_manifest
from opscenter.hooks.dispatcher import Dispatcher
from opscenter.hooks.sandbox import SandboxSettings
from opscenter.hooks.settings import HooksSettings
from opscenter.hooks.webhook_receiver import Behaviour as Behaviour  # re-exported
from opscenter.hooks.webhook_receiver import Call as Call
from opscenter.hooks.webhook_receiver import Receiver as Receiver
from opscenter.hooks.webhook_receiver import ok as ok
from opscenter.servicekit import sealing
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.consumer import EventConsumer
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import (
    LocalStack,
    consumer_record,
)

#: Compressed for tests: 4 attempts, 0.3 s apart, no jitter.
FAST_SCHEDULE = (0.0, 0.3, 0.3, 0.3)


class DeadLetters:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, dict[str, str]]] = []

    async def __call__(
        self, topic: str, value: bytes, key: bytes | None, headers: dict[str, str]
    ) -> None:
        assert topic == "ops.platform.dlq" or topic.endswith(".dlq")
        self.records.append((value, headers))


def package_bytes(files: dict[str, str]) -> bytes:
    """A .tar.gz plugin package of ``files`` (path -> text)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600  # the store makes it readable whatever the archive says
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Signer:
    """A publisher's ed25519 signing key, registered with hooks under ``key_id``."""

    def __init__(self, publisher_id: str = "pub-1") -> None:
        self.publisher_id = publisher_id
        self.key_id = uuid.uuid4()
        self._key = Ed25519PrivateKey.generate()

    @property
    def public_key(self) -> str:
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, digest: str) -> str:
        return base64.b64encode(self._key.sign(bytes.fromhex(digest))).decode()


class ArtifactServer:
    """The catalog's ``GET /api/v1/artifacts/sha256/{digest}`` on 127.0.0.1; ``fetches``
    counts the calls per digest."""

    def __init__(self) -> None:
        self.packages: dict[str, bytes] = {}
        self.fetches: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/artifacts/sha256/{digest}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def add(self, data: bytes, digest: str | None = None) -> str:
        """Serves ``data`` under its digest (or under ``digest``, to serve wrong bytes)."""
        digest = digest or hashlib.sha256(data).hexdigest()
        self.packages[digest] = data
        return digest

    async def _get(self, request: web.Request) -> web.Response:
        digest = request.match_info["digest"]
        self.fetches[digest] = self.fetches.get(digest, 0) + 1
        data = self.packages.get(digest)
        return web.Response(status=404) if data is None else web.Response(body=data)


@dataclass
class Hooks:
    """One hooks service on one fresh database."""

    settings: HooksSettings
    runtime: ServiceRuntime
    api: httpx.AsyncClient
    consumers: dict[str, EventConsumer]
    dead_letters: DeadLetters
    _offset: int = 0
    _sequence: dict[uuid.UUID, int] = field(default_factory=dict)

    async def feed(self, consumer: str, records: Sequence[bytes]) -> None:
        c = self.consumers[consumer]
        batch = []
        for value in records:
            self._offset += 1
            batch.append(consumer_record(c.topics[0], value, offset=self._offset))
        await c.process(batch)

    async def publish(self, *events: CloudEvent) -> None:
        await self.feed("hooks.platform-events", [e.to_json_bytes() for e in events])

    async def register_key(self, signer: Signer) -> None:
        payload = PublisherKeyRegisteredV1(
            publisher_id=signer.publisher_id,
            key_id=signer.key_id,
            public_key=signer.public_key,
            fingerprint=hashlib.sha256(signer.public_key.encode()).hexdigest(),
            registered_at=datetime.now(UTC),
        )
        await self.feed("hooks.publishers", [new_event(payload, source="/tests").to_json_bytes()])

    async def publish_version(
        self,
        plugin_id: uuid.UUID,
        digest: str,
        signer: Signer | None,
        *,
        signature: str | None = None,
        version: str = "1.0.0",
    ) -> None:
        """What the catalog says of a version: its package's digest, signed by ``signer``
        (``signature`` overrides the real one; no signer: unsigned)."""
        payload = PluginVersionPublishedV1(
            plugin_id=plugin_id,
            slug="watcher",
            publisher_id=signer.publisher_id if signer else "pub-unsigned",
            version=version,
            manifest=Manifest.example().model_copy(update={"id": "watcher", "version": version}),
            digest=digest,
            size=1,
            signature=signature or (signer.sign(digest) if signer else None),
            signing_key_id=str(signer.key_id) if signer else None,
            artifact_path=artifact_path("watcher", version),
            published_at=datetime.now(UTC),
        )
        await self.feed("hooks.plugins", [new_event(payload, source="/tests").to_json_bytes()])

    async def transition(self, payload: EventPayload) -> None:
        await self.feed(
            "hooks.subscriptions", [new_event(payload, source="/tests").to_json_bytes()]
        )

    def _installation(
        self,
        tenant_id: str,
        installation_id: uuid.UUID,
        plugin_id: uuid.UUID,
        state: str,
        sequence: int | None = None,
    ) -> dict[str, Any]:
        """The fields of every ``installer.installation`` event of ``watcher`` 1.0.0."""
        return {
            "installation_id": installation_id,
            "tenant_id": tenant_id,
            "plugin_id": plugin_id,
            "slug": "watcher",
            "version": "1.0.0",
            "state": state,
            "sequence": sequence or self._next_sequence(installation_id),
        }

    def _next_sequence(self, installation_id: uuid.UUID) -> int:
        self._sequence[installation_id] = self._sequence.get(installation_id, 0) + 1
        return self._sequence[installation_id]

    async def enable(
        self,
        tenant_id: str,
        hooks: Sequence[HookSpec],
        permissions: Sequence[str] = ("api:devices:read",),
        *,
        installation_id: uuid.UUID | None = None,
        plugin_id: uuid.UUID | None = None,
    ) -> tuple[uuid.UUID, uuid.UUID]:
        installation_id = installation_id or uuid.uuid4()
        plugin_id = plugin_id or uuid.uuid4()
        await self.transition(
            InstallationEnabledV1.model_validate(
                {
                    **self._installation(tenant_id, installation_id, plugin_id, "enabled"),
                    "granted_permissions": list(permissions),
                    "hooks": list(hooks),
                }
            )
        )
        return installation_id, plugin_id

    async def set_config(
        self,
        tenant_id: str,
        installation_id: uuid.UUID,
        plugin_id: uuid.UUID,
        config: dict[str, Any],
        secrets: dict[str, Any],
        *,
        sequence: int | None = None,
        public_key: str | None = None,
    ) -> InstallationConfigSetV1:
        """What the installer sends when a config is set: ``config`` in clear, ``secrets``
        (``{dotted path: value}``) sealed to ``public_key`` (default: this service's own)."""
        key = public_key or sealing.public_key_of(
            self.settings.config_private_key.get_secret_value()
        )
        plain = json.dumps(secrets, sort_keys=True).encode()
        sealed = SealedConfigSecrets(
            algorithm=sealing.ALGORITHM,
            key_id=sealing.key_id(key),
            paths=sorted(secrets),
            box=sealing.seal(key, plain, str(installation_id).encode()),
        )
        payload = InstallationConfigSetV1.model_validate(
            {
                **self._installation(tenant_id, installation_id, plugin_id, "enabled", sequence),
                "reason": "update",
                "config": config,
                "secrets": sealed if secrets else None,
            }
        )
        await self.transition(payload)
        return payload

    async def disable(
        self, tenant_id: str, installation_id: uuid.UUID, plugin_id: uuid.UUID
    ) -> None:
        await self.transition(
            InstallationDisabledV1.model_validate(
                self._installation(tenant_id, installation_id, plugin_id, "disabled")
            )
        )

    async def uninstall(
        self,
        tenant_id: str,
        installation_id: uuid.UUID,
        plugin_id: uuid.UUID,
        *,
        sequence: int | None = None,
    ) -> None:
        await self.transition(
            InstallationUninstalledV1.model_validate(
                self._installation(tenant_id, installation_id, plugin_id, "uninstalled", sequence)
            )
        )

    async def publish_schedules(
        self, plugin_id: uuid.UUID, tick_url: str, schedules: dict[str, str]
    ) -> None:
        """Version 1.0.0 of ``watcher`` (what ``enable`` installs) is published with these
        ``{name: cron}`` schedules, its ``schedule.tick`` hook posting to ``tick_url``; the
        manifest passes the catalog's rules at this instance's minimum interval."""
        manifest = validate_manifest(
            {
                "id": "watcher",
                "name": "Watcher",
                "version": "1.0.0",
                "author": "Tests",
                "type": "backend",
                "category": "automation",
                "entry_points": {"backend": "backend/main.py:App"},
                "permissions": ["cron:schedule"],
                "hooks": [{"name": "schedule.tick", "url": tick_url}],
                "schedules": [{"name": n, "cron": c} for n, c in schedules.items()],
            },
            min_interval_s=self.settings.schedule_min_interval_s,
        )
        published = PluginVersionPublishedV1(
            plugin_id=plugin_id,
            slug="watcher",
            publisher_id="pub-tests",
            version="1.0.0",
            manifest=manifest,
            digest="0" * 64,
            size=1,
            artifact_path="/api/v1/plugins/watcher/versions/1.0.0/artifact",
            published_at=datetime.now(UTC),
        )
        await self.feed("hooks.plugins", [new_event(published, source="/tests").to_json_bytes()])

    def token(
        self, tenant_id: str | None, *roles: str, publisher_id: str | None = None
    ) -> dict[str, str]:
        jwt = mint_dev_token(
            self.settings, tenant_id=tenant_id, roles=roles, publisher_id=publisher_id
        )
        return {"Authorization": f"Bearer {jwt}"}

    async def rotate(self, tenant_id: str, plugin_id: uuid.UUID) -> str:
        r = await self.api.post(
            f"/api/v1/plugins/{plugin_id}/hooks/secret/rotate",
            headers=self.token(tenant_id, "tenant_admin"),
        )
        assert r.status_code == 200, r.text
        return str(r.json()["secret"])

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.runtime.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def wait_for(
        self, sql: str, until: Callable[[list[Any]], bool], timeout_s: float = 20.0, **params: Any
    ) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = await self.rows(sql, **params)
            if until(rows) or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.05)

    async def outbox_types(self) -> list[str]:
        rows = await self.rows("SELECT headers->>'ce_type' FROM outbox ORDER BY id")
        return [r[0] for r in rows]

    @contextlib.asynccontextmanager
    async def dispatching(
        self, sandbox: SandboxSettings | None = None, **overrides: Any
    ) -> AsyncIterator[Dispatcher]:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        dispatcher = Dispatcher(self.runtime, settings, sandbox)
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop))
        try:
            yield dispatcher
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


def dispatcher_process(hooks: Hooks, **env: str) -> subprocess.Popen[bytes]:
    """``python -m opscenter.hooks.dispatcher`` on this test's database, with the harness's
    test settings (loopback allowed, compressed retries) and ``env`` (``HOOKS_...``) on top."""
    s = hooks.settings
    base = {
        "HOOKS_DATABASE_URL": s.database_url,
        "HOOKS_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "HOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "HOOKS_RETRY_SCHEDULE_S": json.dumps(list(s.retry_schedule_s)),
        "HOOKS_RETRY_JITTER": str(s.retry_jitter),
        "HOOKS_SCHEDULE_MIN_INTERVAL_S": str(s.schedule_min_interval_s),
        "HOOKS_IDLE_POLL_S": str(s.idle_poll_s),
        "HOOKS_LOG_LEVEL": "WARNING",
        "HOOKS_LOG_JSON": "false",
    }
    command = [sys.executable, "-m", "opscenter.hooks.dispatcher"]
    return subprocess.Popen(command, env={**os.environ, **base, **env})  # noqa: S603 (our own module)


def hooks_settings(db_url: str, stack: LocalStack, **overrides: Any) -> HooksSettings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "kafka_bootstrap": stack.kafka_bootstrap,
        "log_json": False,
        "allow_private_targets": True,
        "retry_schedule_s": FAST_SCHEDULE,
        "retry_jitter": 0.0,
        "lease_s": 5.0,
        "idle_poll_s": 0.05,
        "breaker_threshold": 3,
        "breaker_probe_s": 1.0,
        "webhook_timeout_s": 2.0,
        "db_pool_size": 5,
        # Schedules every second or two, so a test sees many ticks (production: 60 s).
        "schedule_min_interval_s": 1.0,
    }
    values.update(overrides)
    return HooksSettings(**values)


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def device_created(tenant_id: str, device_id: str = "dev-1", **over: Any) -> CloudEvent:
    from opscenter.contracts.platform import DeviceCreatedV1

    payload = DeviceCreatedV1(
        tenant_id=tenant_id, device_id=device_id, name=over.pop("name", "edge-1"), kind="router"
    )
    return new_event(payload, source="/platform/devices", **over)
