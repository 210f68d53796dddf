"""Handler-mode deliveries end to end: platform events in through the real consumers, the
dispatcher running each handler hook in the real bubblewrap sandbox from a package fetched over
HTTP from a catalog stand-in and checked (sha-256 and ed25519), every attempt and its cause
recorded and visible through ``GET deliveries``.

Runs as root (as CI does): workers run as their slot's uid from this module's own uid range.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from opscenter.contracts import new_event
from opscenter.contracts.hook_events import trim_payload
from opscenter.contracts.manifest import HookSpec
from opscenter.contracts.platform import DeviceDeletedV1, DeviceUpdatedV1, UserLoginV1
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
from opscenter.hooks.tokens import AUDIENCE, InstallationTokens

UID_BASE = uid_base_for_tests(300)

HOSTILE = textwrap.dedent(
    """
    import os, socket

    def ok(event, context):
        return event["data"]["device_id"]

    def allocate(event, context):
        return len(bytearray(2 * 1024 ** 3))

    def spin(event, context):
        while True:
            pass

    def fork_bomb(event, context):
        while True:
            os.fork()

    def inet(event, context):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def read_other(event, context):
        with open(OTHER_SECRET) as f:  # the other plugin's package, by its host path
            return f.read()

    def init_environ(event, context):
        with open("/proc/1/environ", "rb") as f:
            return f.read().decode(errors="replace")

    def nap(event, context):
        import time
        time.sleep(1.5)

    def write_outside(event, context):
        with open("/plugin/handlers.py", "w") as f:
            f.write("replaced")
    """
)

STORAGE = textwrap.dedent(
    """
    import os

    def count(event, context):
        path = os.path.join(context["storage"], "counter")
        n = int(open(path).read()) if os.path.exists(path) else 0
        with open(path, "w") as f:
            f.write(str(n + 1))
        return n + 1

    def write_big(event, context):
        with open(os.path.join(context["storage"], "big"), "wb") as f:
            f.write(b"x" * (2 * 1024 * 1024))
    """
)

REPORTER = textwrap.dedent(
    """
    import http.client, json

    def report(event, context):  # http.client: a refused connect is raised as it is
        body = json.dumps({"event": event, "context": context})
        connection = http.client.HTTPConnection(HOST, PORT, timeout=5)
        connection.request("POST", "/from-handler", body)
        return connection.getresponse().status
    """
)

DELIVERIES = "SELECT installation_id, status FROM deliveries"


def sandbox(**overrides: Any) -> SandboxSettings:
    values: dict[str, Any] = {
        "uid_base": UID_BASE,
        "uid_count": 64,
        "max_pools": 8,
        "workers_per_pool": 3,
        "deadline_s": 3.0,
        "nproc": 16,
    }
    return SandboxSettings(**(values | overrides))


@pytest.fixture
def dirs(tmp_path: Path, catalog: ArtifactServer) -> dict[str, Any]:
    """The dispatcher's settings of this test: where it fetches packages (the catalog
    stand-in), keeps them and the storage folders; the same folders as ``paths``."""
    paths = {"package_root": tmp_path / "packages", "storage_root": tmp_path / "storage"}
    return {name: str(path) for name, path in paths.items()} | {
        "catalog_url": catalog.url,
        "paths": paths,
    }


async def publish_package(
    hooks: Hooks, catalog: ArtifactServer, signer: Signer, files: dict[str, str]
) -> tuple[uuid.UUID, str]:
    """A new plugin whose version 1.0.0 is the signed package of ``files``."""
    plugin = uuid.uuid4()
    digest = catalog.add(package_bytes(files))
    await hooks.publish_version(plugin, digest, signer)
    return plugin, digest


async def install(
    hooks: Hooks,
    tenant_id: str,
    plugin: uuid.UUID,
    hooks_specs: Sequence[HookSpec],
    permissions: Sequence[str] = ("api:devices:read",),
) -> uuid.UUID:
    installation, _ = await hooks.enable(tenant_id, hooks_specs, permissions, plugin_id=plugin)
    return installation


def settings_of(dirs: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The dispatcher's settings: ``dirs``, and a lease long enough for a loaded machine (a
    handler attempt waits for a worker at most lease - deadline - 1 s)."""
    return {k: v for k, v in dirs.items() if k != "paths"} | {"lease_s": 30.0} | overrides


def attempts_by_installation(items: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    return {
        item["installation_id"]: [(a["outcome"], a["cause"]) for a in item["attempt_log"]]
        for item in items
    }


async def test_hostile_handlers_are_stopped_with_their_cause_while_another_installation_succeeds(
    hooks: Hooks, catalog: ArtifactServer, dirs: dict[str, Any]
):
    signer = Signer()
    await hooks.register_key(signer)
    good_plugin, good_digest = await publish_package(
        hooks, catalog, signer, {"handlers.py": HOSTILE, "secret.txt": "other-secret"}
    )
    other_secret = dirs["paths"]["package_root"] / good_digest / "secret.txt"
    hostile_plugin, hostile_digest = await publish_package(
        hooks, catalog, signer, {"handlers.py": f"OTHER_SECRET = {str(other_secret)!r}\n" + HOSTILE}
    )
    expected = {
        "allocate": "memory",
        "spin": "timeout",
        "fork_bomb": "pids",
        "inet": "refused",
        "read_other": "exception",
        "init_environ": "refused",
        "write_outside": "refused",
    }
    hostile_tenant, good_tenant = tenant(), tenant()
    by_function = {
        str(
            await install(
                hooks,
                hostile_tenant,
                hostile_plugin,
                [HookSpec(name="device.created", handler=f"handlers:{function}")],
            )
        ): function
        for function in expected
    }
    good = await install(
        hooks, good_tenant, good_plugin, [HookSpec(name="device.created", handler="handlers:ok")]
    )
    await hooks.publish(device_created(hostile_tenant, "dev-h"))
    await hooks.publish(*(device_created(good_tenant, f"dev-{i}") for i in range(8)))
    kills_before = {
        cause: REGISTRY.get_sample_value("hooks_sandbox_kills_total", {"cause": cause}) or 0.0
        for cause in ("memory", "timeout", "pids")
    }

    async with hooks.dispatching(
        sandbox(), retry_schedule_s=(0.0, 0.2), **settings_of(dirs, lease_s=60.0)
    ):
        rows = await hooks.wait_for(
            DELIVERIES + " WHERE installation_id = :i",
            lambda r: len(r) == 8 and all(s == "succeeded" for _, s in r),
            timeout_s=60,
            i=good,
        )
        assert [s for _, s in rows] == ["succeeded"] * 8
        hostile_open = await hooks.rows(
            "SELECT count(*) FROM deliveries WHERE tenant_id = :t AND status = 'pending'",
            t=hostile_tenant,
        )
        hostile = await hooks.wait_for(
            DELIVERIES + " WHERE tenant_id = :t",
            lambda r: all(s == "dead_lettered" for _, s in r),
            timeout_s=60,
            t=hostile_tenant,
        )
    assert hostile_open[0][0] >= 1, "the good installation finished while hostile ones ran"
    assert sorted(s for _, s in hostile) == ["dead_lettered"] * len(expected)

    page = await hooks.api.get(
        f"/api/v1/plugins/{hostile_plugin}/hooks/deliveries",
        headers=hooks.token(hostile_tenant, "tenant_admin"),
    )
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert {i["target"] for i in items} == {"handler"}
    seen = attempts_by_installation(items)
    assert {by_function[i]: log for i, log in seen.items()} == {
        function: [("failed", cause), ("failed", cause)] for function, cause in expected.items()
    }
    errors = " ".join(a["error"] for i in items for a in i["attempt_log"])
    assert "other-secret" not in errors
    assert "FileNotFoundError" in errors
    assert (other_secret.read_text(), catalog.fetches) == (
        "other-secret",
        {good_digest: 1, hostile_digest: 1},
    ), "each package is fetched once, then served from the checked store"
    for cause, before in kills_before.items():
        after = REGISTRY.get_sample_value("hooks_sandbox_kills_total", {"cause": cause})
        assert after is not None
        assert after >= before + 2, cause  # two attempts each
    types = await hooks.outbox_types()
    assert types.count("hooks.delivery.dead_lettered.v1") == len(expected)
    assert types.count("hooks.delivery.succeeded.v1") == 8


async def test_an_attempt_waits_for_a_sandbox_worker_only_as_long_as_its_lease_allows(
    hooks: Hooks, catalog: ArtifactServer, dirs: dict[str, Any]
):
    """One worker, two deliveries at once: the second may wait 4 - 2 - 1 = 1 s (lease less
    deadline less margin), then fails as busy and is retried; no lease ever runs out under an
    attempt, so no attempt is made twice."""
    signer = Signer()
    await hooks.register_key(signer)
    plugin, _ = await publish_package(hooks, catalog, signer, {"handlers.py": HOSTILE})
    t = tenant()
    await install(hooks, t, plugin, [HookSpec(name="device.created", handler="handlers:nap")])
    await hooks.publish(device_created(t, "dev-1"), device_created(t, "dev-2"))

    async with hooks.dispatching(
        sandbox(workers_per_pool=1, deadline_s=2.0),
        retry_schedule_s=(0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5),
        **settings_of(dirs, lease_s=4.0),
    ):
        rows = await hooks.wait_for(
            "SELECT status FROM deliveries",
            lambda r: len(r) == 2 and all(s == "succeeded" for (s,) in r),
            timeout_s=60,
        )
    assert rows == [("succeeded",), ("succeeded",)]
    attempts = await hooks.rows(
        "SELECT delivery_id, attempt, cause FROM delivery_attempts ORDER BY id"
    )
    numbers = [(d, n) for d, n, _ in attempts]
    assert len(numbers) == len(set(numbers)), "no attempt is made twice"
    causes = [c for _, _, c in attempts]
    assert causes.count("ok") == 2
    assert "busy" in causes
    assert set(causes) == {"ok", "busy"}


async def test_storage_write_keeps_data_across_events_within_its_quota_and_read_cannot_write(
    hooks: Hooks, catalog: ArtifactServer, dirs: dict[str, Any]
):
    signer = Signer()
    await hooks.register_key(signer)
    plugin, _ = await publish_package(hooks, catalog, signer, {"handlers.py": STORAGE})
    t = tenant()
    specs = [
        HookSpec(name="device.created", handler="handlers:count"),
        HookSpec(name="device.updated", handler="handlers:write_big"),
    ]
    writer = await install(hooks, t, plugin, specs, ["api:devices:read", "storage:write"])
    reader = await install(hooks, t, plugin, specs, ["api:devices:read", "storage:read"])
    neither = await install(hooks, t, plugin, specs, ["api:devices:read"])
    storage = dirs["paths"]["storage_root"]
    await hooks.publish(*(device_created(t, "dev-1") for _ in range(3)))

    async with hooks.dispatching(
        sandbox(), retry_schedule_s=(0.0,), storage_quota_mb=1, **settings_of(dirs)
    ) as dispatcher:
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'pending'", lambda r: not r, timeout_s=60
        )
        assert (storage / str(writer) / "counter").read_text() == "3"
        update = DeviceUpdatedV1(tenant_id=t, device_id="dev-1", name="renamed", kind="router")
        await hooks.publish(new_event(update, source="/platform/devices"))
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'pending'", lambda r: not r, timeout_s=60
        )
        stats = dispatcher.handlers.stats()

    statuses = await hooks.rows(
        "SELECT installation_id, event_type, status FROM deliveries ORDER BY seq"
    )
    assert [(e, s) for i, e, s in statuses if i == writer] == [
        ("device.created", "succeeded"),
        ("device.created", "succeeded"),
        ("device.created", "succeeded"),
        ("device.updated", "dead_lettered"),
    ]
    attempts = await hooks.rows(
        "SELECT d.installation_id, d.event_type, a.cause, a.error FROM delivery_attempts a"
        " JOIN deliveries d ON d.id = a.delivery_id ORDER BY a.id"
    )
    over_quota = [(c, e) for i, t_, c, e in attempts if i == writer and t_ == "device.updated"]
    assert len(over_quota) == 1
    assert over_quota[0][0] == "refused"
    assert "quota" in over_quota[0][1]
    assert (storage / str(writer) / "counter").read_text() == "3", "kept after the refusal"
    held = sum(p.stat().st_size for p in (storage / str(writer)).iterdir())
    assert held <= 1024 * 1024, "the folder never holds more than its quota"
    reader_causes = {c for i, t_, c, _ in attempts if i == reader and t_ == "device.created"}
    assert reader_causes == {"refused"}, "storage:read mounts the folder read-only"
    assert not (storage / str(reader) / "counter").exists()
    neither_errors = {e for i, t_, _, e in attempts if i == neither and t_ == "device.created"}
    assert neither_errors == {"exception: KeyError: 'storage'"}, "no storage in the context"
    assert not (storage / str(neither)).exists(), "no folder without a storage grant"
    assert stats["storage_persist_failures"] == 0


async def test_a_granted_handler_reaches_a_loopback_receiver_only_when_the_operator_allows(
    hooks: Hooks, catalog: ArtifactServer, receiver: Receiver, dirs: dict[str, Any]
):
    signer = Signer()
    await hooks.register_key(signer)
    seen: list[Call] = []

    def record(call: Call, n: int) -> web.Response:
        seen.append(call)
        return web.Response(status=204)

    receiver.on("from-handler", record)
    plugin, _ = await publish_package(
        hooks,
        catalog,
        signer,
        {"handlers.py": f"HOST, PORT = '127.0.0.1', {receiver.port}\n" + REPORTER},
    )
    t = tenant()
    granted = ["api:devices:read", "network:outbound"]
    installation = await install(
        hooks, t, plugin, [HookSpec(name="device.created", handler="handlers:report")], granted
    )
    first = device_created(t, "dev-1")
    await hooks.publish(first)
    async with hooks.dispatching(
        sandbox(allow_loopback=False), retry_schedule_s=(0.0,), **settings_of(dirs)
    ):
        refused = await hooks.wait_for(
            "SELECT a.cause, a.error FROM delivery_attempts a", lambda r: bool(r), timeout_s=60
        )
    assert refused[0][0] == "refused"
    assert "loopback" in refused[0][1]
    assert seen == []

    second = device_created(t, "dev-2")
    await hooks.publish(second)
    async with hooks.dispatching(
        sandbox(allow_loopback=True), retry_schedule_s=(0.0,), **settings_of(dirs)
    ):
        rows = await hooks.wait_for(
            "SELECT status FROM deliveries WHERE status = 'succeeded'", bool, timeout_s=60
        )
    assert rows == [("succeeded",)]
    assert len(seen) == 1
    event, context = seen[0].body["event"], seen[0].body["context"]
    assert event["type"] == "device.created"
    assert event["tenant_id"] == t
    assert event["data"] == trim_payload("device.created", second.data, granted)
    assert event["data"]["device_id"] == "dev-2"
    assert context["installation_id"] == str(installation)
    assert context["tenant_id"] == t
    assert context["plugin_id"] == str(plugin)
    assert context["permissions"] == sorted(granted)
    assert "storage" not in context
    tokens = InstallationTokens(
        hooks.settings.token_signing_seed.get_secret_value(), hooks.settings.token_ttl_s
    )
    key = jwt.PyJWK(tokens.jwks()["keys"][0])
    claims = jwt.decode(context["token"], key.key, algorithms=["EdDSA"], audience=AUDIENCE)
    assert claims["sub"] == f"installation:{installation}"
    assert claims["scope"] == "api:devices:read", "only the api:* grant"


async def test_a_package_that_does_not_verify_is_never_run(
    hooks: Hooks, catalog: ArtifactServer, dirs: dict[str, Any]
):
    signer, stranger = Signer(), Signer()
    await hooks.register_key(signer)
    t = tenant()
    spec = [HookSpec(name="device.created", handler="handlers:ok")]
    forged = uuid.uuid4()
    forged_digest = catalog.add(package_bytes({"handlers.py": HOSTILE}))
    await hooks.publish_version(
        forged, forged_digest, signer, signature=stranger.sign(forged_digest)
    )
    swapped = uuid.uuid4()
    swapped_digest = "ab" * 32  # the catalog serves other bytes under this digest
    catalog.add(package_bytes({"handlers.py": HOSTILE}), digest=swapped_digest)
    await hooks.publish_version(swapped, swapped_digest, signer)
    unsigned = uuid.uuid4()
    unsigned_digest = catalog.add(package_bytes({"handlers.py": HOSTILE + "\n"}))
    await hooks.publish_version(unsigned, unsigned_digest, None)
    unknown = uuid.uuid4()  # no version published at all
    names = {}
    for plugin, name in ((forged, "forged"), (swapped, "swapped"), (unsigned, "unsigned"),
                         (unknown, "unknown")):  # fmt: skip
        names[await install(hooks, t, plugin, spec)] = name
    await hooks.publish(device_created(t))

    async with hooks.dispatching(
        sandbox(), retry_schedule_s=(0.0,), **settings_of(dirs)
    ) as dispatcher:
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'pending'", lambda r: not r, timeout_s=60
        )
        stats = dispatcher.handlers.stats()

    rows = await hooks.rows(
        "SELECT d.installation_id, a.cause, a.error FROM delivery_attempts a"
        " JOIN deliveries d ON d.id = a.delivery_id"
    )
    errors = {names[i]: (cause, error) for i, cause, error in rows}
    assert errors == {
        "forged": ("package", "package: the publisher's signature does not verify"),
        "swapped": (
            "package",
            f"package: sha-256 of the package is {catalog_digest(catalog, swapped_digest)}, "
            f"expected {swapped_digest}",
        ),
        "unsigned": ("package", "package: the package is unsigned"),
        "unknown": ("package", "package: version 1.0.0 is not known to hooks yet"),
    }
    assert forged_digest not in catalog.fetches, "a bad signature is refused before any fetch"
    assert not (dirs["paths"]["package_root"] / swapped_digest).exists()
    assert stats["spawns"] == 0, "no sandbox was started for a package that does not verify"


def catalog_digest(catalog: ArtifactServer, served_as: str) -> str:
    import hashlib

    return hashlib.sha256(catalog.packages[served_as]).hexdigest()


async def test_a_family_subscription_receives_device_created_and_deleted_but_not_user_login(
    hooks: Hooks, receiver: Receiver
):
    t = tenant()
    url = receiver.on("devices", lambda call, n: web.Response(status=200))
    await hooks.enable(
        t, [HookSpec(name="device.*", url=url)], ["api:devices:read", "api:users:read"]
    )
    login = UserLoginV1(tenant_id=t, user_id="user-1", email="ada@example.com")
    deleted = DeviceDeletedV1(tenant_id=t, device_id="dev-1")
    await hooks.publish(
        device_created(t, "dev-1"),
        new_event(login, source="/platform/users"),
        new_event(deleted, source="/platform/devices"),
    )
    async with hooks.dispatching():
        await hooks.wait_for(
            "SELECT 1 FROM deliveries WHERE status = 'succeeded'", lambda r: len(r) == 2
        )
    assert sorted(c.body["type"] for c in receiver.calls_to("devices")) == [
        "device.created",
        "device.deleted",
    ]
    types = await hooks.rows("SELECT event_type FROM deliveries ORDER BY seq")
    assert types == [("device.created",), ("device.deleted",)], "no delivery owed for user.login"
