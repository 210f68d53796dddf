"""One trace follows an install from the HTTP request to the hooks service, and one follows a
platform event to the webhook attempt it causes; the logs of each hop carry the same ids.

The client sends its own W3C `traceparent` through the gateway, as an instrumented caller
would, so the test knows each trace id before anything happens; it then reads the spans every
process of the test instance exports (`.local/test/traces/<service>-<role>.jsonl`) and checks
the parent links from process to process, not only the names:

- install: client -> installer API (server span) -> outbox -> Kafka -> installer worker
  (install-executor) -> its follow-up events -> hooks worker (subscription projection);
- delivery: the platform's `device.created` -> hooks worker (ingest) -> the delivery row ->
  hooks dispatcher (the webhook attempt). The attempt belongs to the platform event's trace,
  not the install's: the event, not the install, is what caused it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from opscenter.catalog.testing import manifest, publish_through_gateway
from opscenter.contracts.platform import DeviceCreatedV1
from opscenter.contracts.publisher import PlatformEventPublisher
from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.testing import LocalStack, bearer

pytestmark = pytest.mark.integration

Span = dict[str, Any]


def instance_root(instance: str) -> Path:
    return REPO_ROOT / ".local" / instance


def new_traceparent() -> tuple[str, str, str]:
    """A sampled W3C traceparent as an instrumented client would send: (header, trace id,
    the client span's id)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def spans_of(instance: str, trace_id: str) -> list[Span]:
    """Every exported span of ``trace_id`` in the instance's span files (one per process)."""
    found = []
    for path in sorted((instance_root(instance) / "traces").glob("*.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            if trace_id in line:
                span = json.loads(line)
                if span["trace_id"] == trace_id:
                    found.append(span)
    return found


def log_lines(instance: str, program: str, needle: str) -> list[dict[str, Any]]:
    """The JSON log lines of a process (``installer-api``) that mention ``needle``."""
    path = instance_root(instance) / "logs" / f"{program}.log"
    return [
        json.loads(line)
        for line in path.read_text(errors="replace").splitlines()
        if needle in line and line.startswith("{")
    ]


async def until(probe: Callable[[], Any], ok: Callable[[Any], bool], timeout_s: float = 90) -> Any:
    """Polls ``probe`` until ``ok`` holds (the suite converges through Kafka and exports spans
    from a background thread), or returns the last value for the assertion to show."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if ok(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.5)


async def publish_webhook_plugin(gateway: httpx.AsyncClient, run: str) -> str:
    """A signed plugin with a `device.created` webhook, published; its slug."""
    developer = bearer(sub=f"dev-{run}", roles=["developer"], publisher_id=f"pub-{run}")
    slug = f"observed-{run}"
    hooks = [{"name": "device.created", "url": "https://hooks.example.com/in"}]
    await publish_through_gateway(gateway, developer, manifest(slug, hooks=hooks))
    return slug


def install_body(slug: str) -> dict[str, Any]:
    return {"plugin": slug, "accept_permissions": ["api:devices:read"]}


async def wait_installable(gateway: httpx.AsyncClient, slug: str, admin: dict[str, str]) -> None:
    """The installer learns of the plugin from Kafka: a dry run succeeds once it has."""
    body = {**install_body(slug), "dry_run": True}
    r = await until(
        lambda: gateway.post("/api/v1/plugins/install", json=body, headers=admin),
        lambda a: a.status_code == 200,
    )
    assert r.status_code == 200, r.text


async def emit_device_created(bootstrap: str, tenant_id: str, traceparent: str) -> str:
    """A platform service's `device.created`, sent with the contracts' publisher helper in the
    trace of ``traceparent``; the event's id."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        payload = DeviceCreatedV1.example().model_copy(
            update={"tenant_id": tenant_id, "device_id": str(uuid.uuid4())}
        )
        event = await PlatformEventPublisher(producer).publish(
            payload, source="tests/e2e/observability", traceparent=traceparent
        )
        return event.id
    finally:
        await producer.stop()


def one(spans: list[Span], **match: Any) -> Span:
    """The single span with these fields (`name_prefix` matches the start of the name)."""
    prefix = match.pop("name_prefix", "")
    found = [
        s
        for s in spans
        if s["name"].startswith(prefix) and all(s.get(k) == v for k, v in match.items())
    ]
    assert len(found) == 1, (match, prefix, [(s["service"], s["role"], s["name"]) for s in spans])
    return found[0]


async def test_an_install_and_a_platform_event_are_each_one_trace_across_processes(
    gateway: httpx.AsyncClient, local_stack: LocalStack
):
    instance, run = local_stack.instance, uuid.uuid4().hex[:8]
    tenant = f"traced-{run}"
    admin = bearer(sub=f"admin-{run}", tenant_id=tenant, roles=["tenant_admin"])
    slug = await publish_webhook_plugin(gateway, run)
    await wait_installable(gateway, slug, admin)

    # The install, in a trace the client started.
    traceparent, install_trace, client_span = new_traceparent()
    r = await gateway.post(
        "/api/v1/plugins/install",
        json=install_body(slug),
        headers={**admin, "traceparent": traceparent},
    )
    assert r.status_code == 202, r.text
    request_id = r.headers["x-request-id"]
    r = await until(
        lambda: gateway.get(f"/api/v1/plugins/{slug}/installation", headers=admin),
        lambda a: a.status_code == 200 and a.json()["state"] == "enabled",
    )
    assert r.json()["state"] == "enabled", r.text
    plugin_id = r.json()["plugin_id"]

    # Installer API -> outbox -> Kafka -> installer worker -> follow-ups -> hooks worker.
    # Each process exports its spans from a thread of its own, in its own time: wait for all.
    def complete(spans: list[Span]) -> bool:
        names = {(s["service"], s["role"], s["name"].split(" ")[0]) for s in spans}
        wanted = {
            ("installer", "api", "POST"),
            ("installer", "worker", "installer.install-executor"),
        }
        enabled = any(
            s["name"] == "hooks.subscriptions installer.installation.enabled.v1" for s in spans
        )
        return wanted <= names and enabled

    spans = await until(lambda: spans_of(instance, install_trace), complete)
    api = one(spans, service="installer", role="api", kind="SERVER")
    assert api["parent_span_id"] == client_span
    assert "/plugins/install" in api["name"]
    executor = one(
        spans, service="installer", role="worker", name_prefix="installer.install-executor "
    )
    assert executor["name"].endswith("installer.installation.requested.v1")
    assert executor["parent_span_id"] == api["span_id"]
    assert executor["kind"] == "CONSUMER"
    projection = one(
        spans,
        service="hooks",
        role="worker",
        name="hooks.subscriptions installer.installation.enabled.v1",
    )
    assert projection["parent_span_id"] == executor["span_id"]

    # The logs: the request's line carries its request id and the trace; the worker's line
    # for the event it applied carries the same trace, with the span that applied it.
    request_lines = [
        line
        for line in log_lines(instance, "installer-api", request_id)
        if line.get("route") == "/api/v1/plugins/install"
    ]
    assert request_lines, "no access line of the install request"
    assert request_lines[-1]["request_id"] == request_id
    assert (request_lines[-1]["trace_id"], request_lines[-1]["span_id"]) == (
        install_trace,
        api["span_id"],
    )
    applied = [
        line
        for line in log_lines(instance, "installer-worker", install_trace)
        if line["message"] == "event applied"
    ]
    assert [(a["event_type"], a["span_id"]) for a in applied] == [
        ("installer.installation.requested.v1", executor["span_id"])
    ]

    # A device is created: the platform's event, in its own trace, until hooks (which learns
    # of the enabled installation through Kafka, in its own time) records a delivery of it.
    sent: dict[str, tuple[str, str]] = {}

    async def delivered() -> list[dict[str, Any]]:
        traceparent, trace_id, span_id = new_traceparent()
        event_id = await emit_device_created(local_stack.kafka_bootstrap, tenant, traceparent)
        sent[event_id] = (trace_id, span_id)
        r = await until(
            lambda: gateway.get(f"/api/v1/plugins/{plugin_id}/hooks/deliveries", headers=admin),
            lambda a: a.status_code == 200 and a.json()["items"],
            timeout_s=5,
        )
        return r.json()["items"] if r.status_code == 200 else []

    deliveries = await until(delivered, bool, timeout_s=120)
    assert deliveries, "no delivery of device.created was recorded"
    delivery = deliveries[-1]
    event_trace, event_span = sent[delivery["event_id"]]

    def attempted(spans: list[Span]) -> bool:
        return {"worker", "dispatcher"} <= {s["role"] for s in spans}

    spans = await until(lambda: spans_of(instance, event_trace), attempted)
    ingest = one(spans, service="hooks", role="worker", name="hooks.platform-events device.created")
    assert ingest["parent_span_id"] == event_span
    assert ingest["attributes"]["messaging.message.id"] == delivery["event_id"]
    attempt = one(spans, service="hooks", role="dispatcher", name="hooks deliver device.created")
    assert attempt["parent_span_id"] == ingest["span_id"]
    assert attempt["attributes"]["hooks.delivery_id"] == delivery["id"]
    assert attempt["attributes"]["hooks.target"] == "webhook"
    assert attempt["attributes"]["hooks.attempt"] == 1
    # None of it leaked into the install's trace, nor the install into the event's.
    assert not [s for s in spans_of(instance, install_trace) if s["role"] == "dispatcher"]
    assert {s["service"] for s in spans} >= {"hooks"}

    lines = [
        line
        for line in log_lines(instance, "hooks-worker", event_trace)
        if line["message"] == "event applied"
    ]
    assert [(line["event_id"], line["span_id"]) for line in lines] == [
        (delivery["event_id"], ingest["span_id"])
    ]
