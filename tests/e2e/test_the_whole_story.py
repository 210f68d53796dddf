"""Issue 18's story, end to end through the gateway, as its people drive it (the demo's actors:
a token each and the real ``ops-center`` CLI in-process):

1. a developer signs and publishes two plugins with the CLI: a webhook plugin subscribed to
   ``device.created`` and a Python-handler plugin (the demo's device inventory);
2. a platform admin verifies and features the handler plugin;
3. tenant A's admin plans (dry run), consents, configures and enables both, and points the
   webhook at a loopback receiver that verifies every signature with ``standardwebhooks``
   (the secret from a rotation through the API);
4. a platform service publishes ``device.created`` with a plain aiokafka producer, the
   CloudEvents JSON built by hand as a service in another language would;
5. the receiver gets a signed delivery whose ``data`` is what ``trim_payload`` allows (a field
   the producer added and no payload declares never reaches the plugin); the handler's
   delivery succeeds;
6. a member of tenant A reviews the handler plugin; the catalog shows the rating;
7. the developer's analytics shows the installs, deliveries, latency p95 and rating;
8. tenant B, after every step, sees none of A's data;
9. the admin bans the webhook plugin: A's installation is disabled and a further
   ``device.created`` reaches the handler but not the receiver.

The brief asked for the webhook plugin WITHOUT ``api:devices:read``, its payloads trimmed to
ids. The platform does not allow that (``contracts.hook_events``: a subscription must declare
the event's permission, and hooks delivers only what the grant covers), so the story checks the
refusal (the CLI's ``plugin validate``, the catalog's own rules) and publishes the plugin with
the permission; trimming is then seen on the field the grant never covers (an undeclared one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from opscenter.contracts.hook_events import trim_payload
from opscenter.hooks.testing import Receiver
from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.testing import LocalStack

sys.path.append(str(REPO_ROOT))  # the demo is a script folder of the repository, not a package
from scripts.demo import flow
from scripts.demo.__main__ import cast
from scripts.demo.actors import Actor, DemoError, until

WEBHOOK, HANDLER = "device-alert-forwarder", "device-inventory"
DEVELOPER, OTHER_DEVELOPER = flow.PUBLISHERS  # the second publishes nothing in this story


def _subscribe_to_device_created(manifest: dict[str, Any]) -> None:
    manifest["hooks"] = [{"name": "device.created", "url": "https://alerts.example.com/in"}]


def _without_device_permission(manifest: dict[str, Any]) -> None:
    _subscribe_to_device_created(manifest)
    manifest["permissions"] = ["network:outbound"]


@contextlib.contextmanager
def loopback_receiver() -> Iterator[Receiver]:
    """The hooks tests' receiver (it verifies each call with ``standardwebhooks``), served
    from a loop of its own: the actors' CLI and HTTP calls block this thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    receiver = Receiver()
    asyncio.run_coroutine_threadsafe(receiver.start(), loop).result(10)
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def device_created_record(tenant: str, n: int) -> tuple[str, dict[str, Any], bytes]:
    """A CloudEvents 1.0 structured event as any producer would write it, with one field
    (``owner_email``) that no payload model declares."""
    event_id = str(uuid.uuid4())
    data = {
        "tenant_id": tenant,
        "device_id": f"{tenant}-router-{n}",
        "name": f"edge-router-{n}",
        "kind": "router",
        "ip": "192.0.2.10",
        "owner_email": "noc@example.com",
    }
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "//devices.platform.example",
        "type": "device.created",
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "tenantid": tenant,
        "data": data,
    }
    return event_id, data, json.dumps(event).encode()


async def _produce(bootstrap: str, tenant: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("ops.platform", value=value, key=tenant.encode())
    finally:
        await producer.stop()


def emit_until(
    kafka: str,
    tenant: str,
    sent: dict[str, dict[str, Any]],
    done: Callable[[dict[str, dict[str, Any]]], Any],
    *,
    resend_s: float = 20,
) -> Any:
    """Publishes a ``device.created`` for ``tenant`` until ``done(sent)`` holds (bounded). An
    event that reaches hooks before hooks has learned an installation (another topic) finds
    no subscriber, so a new event goes out every ``resend_s``."""
    deadline = time.monotonic() + 90
    while True:
        event_id, data, value = device_created_record(tenant, len(sent) + 1)
        asyncio.run(_produce(kafka, tenant, value))
        sent[event_id] = data
        try:
            return until("deliveries of device.created", lambda: done(sent), timeout_s=resend_s)
        except DemoError:
            if time.monotonic() > deadline:
                raise


def deliveries(admin: Actor, plugin_id: str) -> list[dict[str, Any]]:
    _, page = admin.cli("deliveries", "list", plugin_id, "--event-type", "device.created")
    items: list[dict[str, Any]] = page["items"]
    return items


def test_the_whole_story(gateway_url: str, local_stack: LocalStack, tmp_path: Path):
    started = time.monotonic()
    run = cast(gateway_url, tmp_path, f"story{uuid.uuid4().hex[:6]}")
    dev, other_dev = run.developers[DEVELOPER], run.developers[OTHER_DEVELOPER]
    a, b = run.tenants
    webhook, handler = run.slug(WEBHOOK), run.slug(HANDLER)
    checked: list[str] = []

    def b_sees_nothing(step: str) -> None:
        """Tenant B's admin and B's developer (not the publisher) after ``step``."""
        _, listed = b.admin.cli("list")
        assert listed["items"] == [], (step, listed)
        for slug in (webhook, handler):
            pid = run.plugin_ids[slug]
            b.admin.call("GET", f"/plugins/{slug}/installation", expect=(404,))
            _, problem = b.admin.cli("deliveries", "list", pid, ok=(1,))
            assert problem["status"] == 404, (step, problem)
            _, problem = other_dev.cli("analytics", pid, ok=(1,))
            assert problem["status"] == 404, (step, problem)
        checked.append(f"B sees nothing of A ({step})")

    try:
        with loopback_receiver() as receiver:
            # 1. The developer's terminal: a key, then a plugin the rules refuse, then two.
            dev.cli("keys", "generate", "--register")
            refused = flow.prepared_copy(run, WEBHOOK, _without_device_permission)
            _, problem = dev.cli("plugin", "validate", str(refused), ok=(1,))
            assert "device.created needs permission api:devices:read" in json.dumps(problem)
            flow.publish_one(run, dev, WEBHOOK, _subscribe_to_device_created)
            flow.publish_one(run, dev, HANDLER)
            assert set(run.published.values()) == {"published 1.0.0 (signed: True)"}
            checked.append("subscribing to device.created without its permission is refused")
            checked.append(f"published signed with the CLI: {webhook}, {handler}")

            # 2. The platform admin verifies and features the handler plugin.
            flow.moderate(run)
            detail = a.member.call("GET", f"/plugins/marketplace/{handler}", expect=(200,))
            assert (detail["verified"], detail["featured"]) == (True, True)
            featured = a.member.call("GET", "/plugins/marketplace/featured", expect=(200,))
            assert handler in [i["slug"] for i in featured["items"]]
            checked.append(f"{handler} verified and featured")
            b_sees_nothing("after publishing and moderation")

            # 3. Tenant A: dry-run plan, consent, configure, enable; the webhook's endpoint.
            forwarder_config = ("-c", "api_key=k-123", "-c", f"alert_url={receiver.url('alerts')}")
            installs = (
                (webhook, forwarder_config, ("min_severity", "critical"), "network:outbound"),
                (handler, (), ("report_kinds", ["router"]), "storage:write"),
            )
            for slug, config, (key, value), other in installs:
                flow.plan(run, a, slug, *config)
                plan = run.plans[f"{a.name}/{slug}"]
                assert [(i["plugin"], i["role"]) for i in plan["items"]] == [(slug, "requested")]
                assert plan["items"][0]["permissions"] == ["api:devices:read", other]
                assert plan["permissions"] == ["api:devices:read", other]
                a.admin.cli("install", slug, "--yes", "--no-enable", *config)
                flow.wait_state(a, slug, "installed")
                a.admin.cli("config", "set", slug, f"{key}={json.dumps(value)}")
                a.admin.cli("enable", slug)
                flow.wait_state(a, slug, "enabled")
                detail = a.admin.call("GET", f"/plugins/{slug}/installation", expect=(200,))
                assert detail["consents"][0]["permissions"] == plan["permissions"]
                assert detail["config"][key] == value
                assert [h["action"] for h in detail["history"]][-2:] == ["config_update", "enable"]
            _, listed = a.admin.cli("list")
            granted = {i["plugin"]: i["granted_permissions"] for i in listed["items"]}
            assert granted == {
                webhook: ["api:devices:read", "network:outbound"],
                handler: ["api:devices:read", "storage:write"],
            }
            assert "k-123" not in json.dumps(listed)  # the secret is write-only
            secret = flow.connect_webhook(run, receiver.url("hooks"))
            receiver.verify_with = [secret]
            checked.append("A planned (plugins, permissions), consented, configured, enabled")
            b_sees_nothing("after A installed")

            # 4-5. A platform service emits; the receiver and the sandboxed handler get it.
            webhook_id, handler_id = run.plugin_ids[webhook], run.plugin_ids[handler]
            sent: dict[str, dict[str, Any]] = {}

            def both_delivered(sent: dict[str, dict[str, Any]]) -> Any:
                calls = [c for c in receiver.calls_to("hooks") if c.body["id"] in sent]
                done = [
                    d
                    for d in deliveries(a.admin, handler_id)
                    if d["event_id"] in sent and d["status"] == "succeeded"
                ]
                return (calls, done) if calls and done else None

            calls, handled = emit_until(local_stack.kafka_bootstrap, a.name, sent, both_delivered)
            assert receiver.bad_signatures == []
            call = calls[0]
            assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(call.headers)
            assert (call.body["type"], call.body["tenant_id"]) == ("device.created", a.name)
            data = call.body["data"]
            assert data == trim_payload("device.created", sent[call.body["id"]], granted[webhook])
            assert "owner_email" not in data
            assert data["device_id"] == sent[call.body["id"]]["device_id"]
            # More than one event may have been sent (emit_until resends until hooks knows the
            # installations): the record to read is the one this call carried.
            record = until(
                "the webhook's delivery record",
                lambda: [
                    d
                    for d in deliveries(a.admin, webhook_id)
                    if d["status"] == "succeeded" and d["id"] == call.headers["webhook-id"]
                ],
            )
            assert record[0]["target"] == "webhook"
            assert record[0]["attempt_log"][-1]["status_code"] == 200
            assert handled[0]["target"] == "handler"
            checked.append(f"signed webhook verified; data {sorted(data)}, owner_email dropped")
            checked.append("handler delivery succeeded in the sandbox")
            b_sees_nothing("after the deliveries")
            b.admin.call(
                "POST",
                f"/plugins/{webhook_id}/hooks/deliveries/{record[0]['id']}/replay",
                expect=(404,),
            )

            # 6. A member of A reviews the handler plugin; the catalog shows the rating.
            reviews = f"/plugins/marketplace/{handler}/reviews"
            body = {"rating": 4, "title": "Keeps count", "body": "Every router shows up."}
            review = until(
                "reviews to know A's installation",
                lambda: a.member.call("POST", reviews, json=body, expect=(201,)),
                every_s=2.0,
            )
            rating = until("the catalog to count the review", lambda: _rating_of(a.member, handler))
            assert (rating["count"], rating["average"]) == (1, 4.0)
            # Reviews are public; B reads A's review but cannot change it.
            listed_reviews = b.member.call("GET", reviews, expect=(200,))
            assert [r["id"] for r in listed_reviews["items"]] == [review["id"]]
            b.member.call(
                "PUT", f"{reviews}/{review['id']}", json={**body, "rating": 1}, expect=(404,)
            )
            b.member.call("DELETE", f"{reviews}/{review['id']}", expect=(404,))
            assert a.member.call("GET", reviews, expect=(200,))["items"][0]["rating"] == 4
            checked.append("A's review counted by the catalog (1 review, 4.0); B cannot edit it")
            b_sees_nothing("after the review")

            # 7. The developer's analytics: installs, deliveries, latency p95, rating.
            def analytics(pid: str, rated: bool) -> dict[str, Any] | None:
                _, answer = dev.cli("analytics", pid)
                t = answer["totals"]
                ready = (
                    t.get("installs") == 1
                    and (t.get("hook_deliveries") or 0) >= 1
                    and t.get("hook_latency_p95") is not None
                    and (not rated or (t.get("rating") or {}).get("count") == 1)
                )
                return t if ready else None

            for slug, rated in ((webhook, False), (handler, True)):
                totals = until(
                    f"analytics of {slug}",
                    lambda slug=slug, rated=rated: analytics(run.plugin_ids[slug], rated),
                )
                checked.append(
                    f"analytics {slug}: installs {totals['installs']}, deliveries "
                    f"{totals['hook_deliveries']}, p95 {totals['hook_latency_p95']:.0f} ms"
                    + (f", rating {totals['rating']['average']}" if rated else "")
                )
            b_sees_nothing("after analytics")

            # 9. The admin bans the webhook plugin: A's installation is disabled, and the next
            # device.created reaches the handler and not the receiver.
            run.admin.call(
                "DELETE", f"/admin/plugins/{webhook}/ban", params={"reason": "leaks data"},
                expect=(200,),
            )  # fmt: skip
            flow.wait_state(a, webhook, "disabled")
            banned = a.admin.call("GET", f"/plugins/{webhook}/installation", expect=(200,))
            assert (banned["state"], banned["reason"]) == ("disabled", "banned")
            a.admin.call("GET", f"/plugins/marketplace/{webhook}", expect=(410,))
            _, listed = a.admin.cli("list")
            assert {i["plugin"]: i["state"] for i in listed["items"]} == {
                webhook: "disabled",
                handler: "enabled",
            }
            # Hooks has learned it too once it refuses a replay (an empty, future window).
            future = (datetime.now(UTC) + timedelta(days=1)).isoformat()

            def hooks_refuses_replay() -> bool:
                r = a.admin.http.post(f"/plugins/{webhook_id}/hooks/replay", json={"since": future})
                assert r.status_code in (202, 409), r.text
                return r.status_code == 409

            until("hooks to know it is disabled", hooks_refuses_replay, every_s=2.0)
            before = len(receiver.calls)
            after: dict[str, dict[str, Any]] = {}
            emit_until(
                local_stack.kafka_bootstrap,
                a.name,
                after,
                lambda s: [
                    d
                    for d in deliveries(a.admin, handler_id)
                    if d["event_id"] in s and d["status"] == "succeeded"
                ],
            )
            assert len(receiver.calls) == before
            assert not [d for d in deliveries(a.admin, webhook_id) if d["event_id"] in after]
            checked.append(
                "banned: A's installation disabled; the next event reached only the handler"
            )
            b_sees_nothing("after the ban")
    finally:
        run.close()
    print(f"\nThe whole story in {time.monotonic() - started:.0f} s:")
    for line in checked:
        print(f"  - {line}")


def _rating_of(reader: Actor, slug: str) -> dict[str, Any] | None:
    rating: dict[str, Any] = reader.call("GET", f"/plugins/marketplace/{slug}", expect=(200,))[
        "rating"
    ]
    return rating if rating["count"] >= 1 else None
