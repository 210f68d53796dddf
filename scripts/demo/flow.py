"""What happens in the demo, step by step, each through the CLI or the gateway:

1. two publishers' developers publish the example plugins (package, sign, publish with the
   CLI);
2. a platform admin verifies and features one;
3. two tenants install (dry-run plan, consent, config, enable);
4. the platform emits events on ``ops.platform`` with the contracts' publisher helper, as a
   platform service would, until the hooks service has recorded a finished delivery for each;
5. a member of a tenant that installed a plugin reviews it.

Plugin slugs are ``<prefix>-<example>`` and stay the same from run to run (a run finds its
versions already published and says so); tenants and users are new each run, so a second run
installs and reviews again instead of meeting its own installations.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaProducer

from opscenter.contracts.platform import (
    DeviceAlertV1,
    DeviceCreatedV1,
    DeviceUpdatedV1,
    PlatformEventPayload,
    TenantCreatedV1,
    UserLoginV1,
)
from opscenter.contracts.publisher import PlatformEventPublisher

from .actors import Actor, DemoError, until
from .receiver import Receiver

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
#: Two publishers and their examples, each in publishing order (a dependency first).
PUBLISHERS = {
    "ops-center-examples": ("login-audit", "tenant-onboarding", "device-inventory"),
    "signal-forwarding": ("device-alert-forwarder",),
}
PUBLISHED = tuple(example for examples in PUBLISHERS.values() for example in examples)
EVENT_SOURCE = "ops-center/demo"


@dataclass
class Tenant:
    name: str
    admin: Actor
    member: Actor
    #: slug -> the event types this tenant's installation should receive in the demo.
    expects: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Run:
    """Everything the steps did; the report reads the rest from the gateway."""

    prefix: str
    #: publisher id -> its developer
    developers: dict[str, Actor]
    admin: Actor
    tenants: list[Tenant]
    receiver: Receiver
    work: Path
    published: dict[str, str] = field(default_factory=dict)
    plugin_ids: dict[str, str] = field(default_factory=dict)
    plans: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, str]] = field(default_factory=list)
    review: dict[str, Any] = field(default_factory=dict)

    def slug(self, example: str) -> str:
        return f"{self.prefix}-{example}"

    def owner(self, slug: str) -> Actor:
        """The developer who published ``slug`` (the one who may read its analytics)."""
        for publisher, examples in PUBLISHERS.items():
            if any(self.slug(e) == slug for e in examples):
                return self.developers[publisher]
        raise KeyError(slug)

    def close(self) -> None:
        people = [*self.developers.values(), self.admin]
        for tenant in self.tenants:
            people += [tenant.admin, tenant.member]
        for person in people:
            person.close()


def prepared_copy(
    run: Run, example: str, edit: Callable[[dict[str, Any]], None] | None = None
) -> Path:
    """The example's folder with its id (and its dependencies' ids) given the run's prefix;
    ``edit`` changes the manifest further (a variant of an example)."""
    target = run.work / "plugins" / run.slug(example)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        EXAMPLES / example,
        target,
        ignore=shutil.ignore_patterns("dist", "__pycache__", ".pytest_cache"),
    )
    manifest_path = target / "plugin.yaml"
    manifest = yaml.safe_load(manifest_path.read_text())
    manifest["id"] = run.slug(example)
    deps = (manifest.get("dependencies") or {}).get("plugins") or {}
    if deps:
        manifest["dependencies"]["plugins"] = {run.slug(k): v for k, v in deps.items()}
    if edit is not None:
        edit(manifest)
    manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return target


def publish(run: Run) -> None:
    """Each developer's terminal: a signing key, then package, sign and publish each example.
    A version already in the catalog (an earlier run) answers 409 and is reported as such."""
    for publisher, examples in PUBLISHERS.items():
        dev = run.developers[publisher]
        dev.cli("keys", "generate", "--register")
        for example in examples:
            publish_one(run, dev, example)


def publish_one(
    run: Run, dev: Actor, example: str, edit: Callable[[dict[str, Any]], None] | None = None
) -> None:
    """``dev`` packages, signs and publishes ``example`` (its manifest changed by ``edit``)."""
    folder = prepared_copy(run, example, edit)
    _, built = dev.cli("plugin", "package", str(folder), "--out", str(run.work / "dist"))
    dev.cli("plugin", "sign", built["path"])
    code, answer = dev.cli("plugin", "publish", built["path"], ok=(0, 1))
    slug = run.slug(example)
    if code == 0:
        run.published[slug] = f"published {answer['version']} (signed: {answer['signed']})"
    elif answer.get("status") == 409 and any(
        e.get("field") == "version" for e in answer.get("errors") or []
    ):
        run.published[slug] = f"{built['version']} already published (an earlier run)"
    else:
        # For example a slug another publisher owns: `--prefix` gives the demo other slugs.
        raise DemoError(f"publishing {slug} failed (try another --prefix?): {answer}")
    detail = dev.call("GET", f"/plugins/marketplace/{slug}", expect=(200,))
    run.plugin_ids[slug] = detail["id"]


def moderate(run: Run) -> None:
    """The platform admin verifies the device inventory and features it first."""
    slug = run.slug("device-inventory")
    run.admin.call(
        "PUT",
        f"/admin/plugins/{slug}/verify",
        json={"verified": True, "reason": "reviewed by the platform team"},
        expect=(200,),
    )
    run.admin.call(
        "PUT", f"/admin/plugins/{slug}/feature", json={"featured": True, "rank": 1}, expect=(200,)
    )


def plan(run: Run, tenant: Tenant, slug: str, *config: str) -> None:
    """The dry run: the installer answers once it has learned the versions from Kafka."""

    def attempt() -> Any:
        _, answer = tenant.admin.cli("install", slug, "--dry-run", *config)
        return answer

    run.plans[f"{tenant.name}/{slug}"] = until(f"a plan for {slug}", attempt)["plan"]


def install(run: Run) -> None:
    acme, globex = run.tenants
    onboarding, audit = run.slug("tenant-onboarding"), run.slug("login-audit")
    inventory, forwarder = run.slug("device-inventory"), run.slug("device-alert-forwarder")
    alerts = f"{run.receiver.url}/alerts"
    forwarder_config = ("-c", "api_key=demo-alerting-key", "-c", f"alert_url={alerts}")
    run.receiver.config = {"api_key": "demo-alerting-key", "alert_url": alerts}

    # acme: the onboarding page (login-audit comes along as its dependency), the inventory and
    # the alert forwarder; --yes is the consent to the plan's permissions, enabled at once.
    for slug, config in (
        (onboarding, ()),
        (inventory, ("-c", 'report_kinds=["server","router"]')),
        (forwarder, forwarder_config),
    ):
        plan(run, acme, slug, *config)
        acme.admin.cli("install", slug, "--yes", *config)
    acme.expects = {
        onboarding: ["tenant.created"],
        audit: ["user.login"],
        inventory: ["device.created", "device.updated"],
        forwarder: ["device.alert"],
    }
    # globex: the inventory only, step by step: install without enabling, configure, enable.
    plan(run, globex, inventory)
    globex.admin.cli("install", inventory, "--yes", "--no-enable")
    wait_state(globex, inventory, "installed")
    globex.admin.cli("config", "set", inventory, 'report_kinds=["sensor"]')
    globex.admin.cli("enable", inventory)
    globex.expects = {inventory: ["device.created"]}
    for tenant in run.tenants:
        for slug in tenant.expects:
            wait_state(tenant, slug, "enabled")


def wait_state(tenant: Tenant, slug: str, state: str) -> None:
    def attempt() -> bool:
        _, listed = tenant.admin.cli("list")
        return any(i["plugin"] == slug and i["state"] == state for i in listed["items"])

    until(f"{slug} {state} in {tenant.name}", attempt)


def connect_webhook(run: Run, url: str | None = None) -> str:
    """acme points the forwarder's webhooks at the demo's receiver (or ``url``) and takes a
    fresh signing secret for it, which it returns. Hooks answers 404 until it has learned of
    the installation from Kafka."""
    acme = run.tenants[0]
    plugin_id = run.plugin_ids[run.slug("device-alert-forwarder")]
    until(
        "hooks to know the forwarder's installation",
        lambda: acme.admin.call(
            "PUT",
            f"/plugins/{plugin_id}/hooks/endpoint",
            json={"url": url or f"{run.receiver.url}/hooks"},
            expect=(200,),
        ),
    )
    rotated = acme.admin.call("POST", f"/plugins/{plugin_id}/hooks/secret/rotate", expect=(200,))
    run.receiver.secret = rotated["secret"]
    return str(rotated["secret"])


def _events_for(tenant: Tenant, event_type: str, n: int) -> list[PlatformEventPayload]:
    """The platform's events of one type for a tenant (``n`` tells a resend apart)."""
    t = tenant.name
    device = f"{t}-dev-{n}"
    made: dict[str, list[PlatformEventPayload]] = {
        "tenant.created": [TenantCreatedV1(tenant_id=t, name=t.title(), tier="pro")],
        "user.login": [
            UserLoginV1(tenant_id=t, user_id=f"{t}-ada", email="ada@example.com", ip="192.0.2.7")
        ],
        "device.created": [
            DeviceCreatedV1(tenant_id=t, device_id=device, name=f"edge-{n}", kind="router"),
            DeviceCreatedV1(tenant_id=t, device_id=f"{device}s", name=f"rack-{n}", kind="server"),
        ],
        "device.updated": [
            DeviceUpdatedV1(
                tenant_id=t, device_id=device, name=f"edge-{n}", kind="router", changed=["name"]
            )
        ],
        "device.alert": [
            DeviceAlertV1(
                tenant_id=t,
                device_id=device,
                alert_id=f"{device}-cpu",
                severity="critical",
                message="CPU above 95% for 5 minutes",
            )
        ],
    }
    return made[event_type]


async def _publish(bootstrap: str, payloads: list[PlatformEventPayload]) -> list[str]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        publisher = PlatformEventPublisher(producer)
        return [(await publisher.publish(p, source=EVENT_SOURCE)).id for p in payloads]
    finally:
        await producer.stop()


def deliveries(tenant: Tenant, plugin_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = tenant.admin.call(
        "GET", f"/plugins/{plugin_id}/hooks/deliveries", params={"limit": 100}, expect=(200,)
    )["items"]
    return items


def emit(run: Run, bootstrap: str, *, timeout_s: float = 120, resend_s: float = 15) -> None:
    """Emits each expected event type once, then waits until every (tenant, plugin, event
    type) has an attempted delivery. An event that reaches hooks before hooks has learned of
    an installation (both arrive through Kafka, on different topics) finds no subscriber, so
    a type with no delivery after ``resend_s`` is emitted again, as a new event."""
    loop_ = asyncio.new_event_loop()
    try:
        missing = {
            (tenant.name, slug, event_type)
            for tenant in run.tenants
            for slug, types in tenant.expects.items()
            for event_type in types
        }
        by_name = {t.name: t for t in run.tenants}
        waited, n = 0.0, 0
        while missing and waited < timeout_s:
            n += 1
            for tenant_name, event_type in sorted({(t, e) for t, _, e in missing}):
                payloads = _events_for(by_name[tenant_name], event_type, n)
                for event_id in loop_.run_until_complete(_publish(bootstrap, payloads)):
                    run.events.append({"tenant": tenant_name, "type": event_type, "id": event_id})
            spent = 0.0
            while missing and spent < resend_s:
                loop_.run_until_complete(asyncio.sleep(1.0))
                spent += 1.0
                for tenant_name, slug, event_type in sorted(missing):
                    items = deliveries(by_name[tenant_name], run.plugin_ids[slug])
                    # Attempted at least once: finished, or pending a retry after a failure.
                    if any(
                        d["event_type"] == event_type
                        and (d["status"] != "pending" or d["attempts"] > 0)
                        for d in items
                    ):
                        missing.discard((tenant_name, slug, event_type))
            waited += spent
        if missing:
            raise DemoError(f"no delivery was attempted for {sorted(missing)}")
    finally:
        loop_.close()


def review(run: Run) -> None:
    """A member of acme reviews the inventory; reviews accepts it once it has learned of the
    installation (403 until then). Each try is a write, so they are spaced out."""
    acme = run.tenants[0]
    slug = run.slug("device-inventory")
    body = {
        "rating": 5,
        "title": "Our inventory keeps itself",
        "body": "Every router and server shows up the moment it is created.",
    }
    run.review = until(
        "reviews to know acme's installation",
        lambda: acme.member.call(
            "POST", f"/plugins/marketplace/{slug}/reviews", json=body, expect=(201,)
        ),
        every_s=2.0,
    )
