"""What the workload of `test_suite_under_faults.py` expects to have happened, and what each
service shows: one row per effect with expected, seen, lost and duplicated.

An effect is counted where its owner keeps it (the installer's installations and history, the
tenant's receiver, hooks' delivery records, reviews' summary, the catalog's projections,
analytics' counters), always read through the gateway as a user would.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from faultload import Plugin, Tenant

from opscenter.contracts import ALL_TOPICS

#: An install with enable: each transition one history row, in this order.
INSTALL_PATH = (("available", "installing"), ("installing", "installed"), ("installed", "enabled"))
#: A delivery in one of these states will not be attempted again.
FINISHED = frozenset({"succeeded", "failed", "dead_lettered", "cancelled"})


@dataclass(frozen=True)
class Effect:
    name: str
    expected: int
    seen: int
    lost: int
    duplicated: int
    note: str = ""

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.seen == self.expected


@dataclass
class Observation:
    effects: list[Effect]
    settled: bool  # every delivery finished: nothing more will reach a receiver
    details: list[str]

    @property
    def converged(self) -> bool:
        return self.settled and all(e.exact for e in self.effects)


def count_effect(name: str, expected: int, seen: int, note: str = "") -> Effect:
    return Effect(name, expected, seen, max(0, expected - seen), max(0, seen - expected), note)


async def observe(
    client: httpx.AsyncClient,
    plugin: Plugin,
    tenants: list[Tenant],
    fresh: tuple[Plugin, list[Tenant]],
) -> Observation:
    """One look at every effect of the `tenants` of `plugin`, and at the installations of
    `fresh` (installs of a package the installer had never fetched, requested while the
    catalog, which serves packages, was down); raises httpx.TransportError if a service does
    not answer."""
    details: list[str] = []
    effects = await _installations(client, plugin, tenants, details, "installer")
    effects += await _installations(client, *fresh, details, "installer, package fetched late")
    deliveries = await _deliveries(client, plugin)
    effects += _webhooks(tenants, deliveries, details)
    effects += await _ratings(client, plugin, tenants)
    effects += await _analytics(client, plugin, tenants, deliveries)
    settled = all(d["status"] in FINISHED for d in deliveries)
    return Observation(effects, settled, details)


async def _installations(
    client: httpx.AsyncClient,
    plugin: Plugin,
    tenants: list[Tenant],
    details: list[str],
    label: str,
) -> list[Effect]:
    enabled = duplicated_installs = rows = lost_rows = extra_rows = 0
    for tenant in tenants:
        r = await client.get("/api/v1/plugins/installed", headers=tenant.admin)
        r.raise_for_status()
        mine = [i for i in r.json()["items"] if i["plugin"] == plugin.slug]
        duplicated_installs += max(0, len(mine) - 1)
        r = await client.get(f"/api/v1/plugins/{plugin.slug}/installation", headers=tenant.admin)
        if r.status_code == 404:
            lost_rows += len(INSTALL_PATH)
            continue
        r.raise_for_status()
        installation = r.json()
        enabled += installation["state"] == "enabled"
        path = [(h["from_state"], h["to_state"]) for h in installation["history"] or []]
        rows += len(path)
        steps = Counter(path)
        lost_rows += sum(1 for step in INSTALL_PATH if steps[step] == 0)
        extra_rows += sum(n - (step in INSTALL_PATH) for step, n in steps.items())
        if tuple(path) != INSTALL_PATH:
            details.append(f"{tenant.name} history: {path}")
    return [
        Effect(
            f"{label}: installation enabled",
            len(tenants),
            enabled + duplicated_installs,
            len(tenants) - enabled,
            duplicated_installs,
        ),
        Effect(
            f"{label}: history rows (one per transition)",
            len(tenants) * len(INSTALL_PATH),
            rows,
            lost_rows,
            extra_rows,
            "path " + " -> ".join(to for _, to in INSTALL_PATH) + "; other rows are duplicated",
        ),
    ]


async def _deliveries(client: httpx.AsyncClient, plugin: Plugin) -> list[dict[str, Any]]:
    """Every delivery of the plugin, as its developer sees them (all tenants)."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(
            f"/api/v1/plugins/{plugin.id}/hooks/deliveries",
            params=params,
            headers=plugin.developer,
        )
        r.raise_for_status()
        page = r.json()
        out += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def _webhooks(
    tenants: list[Tenant], deliveries: list[dict[str, Any]], details: list[str]
) -> list[Effect]:
    expected = {e: t for t in tenants for e in t.events}
    # What reached the receivers: per event, the webhook-ids (delivery ids) it came under.
    ids_of: defaultdict[str, set[str]] = defaultdict(set)
    calls = redelivered = bad = 0
    for tenant in tenants:
        bad += len(tenant.receiver.bad_signatures)
        seen_ids: Counter[str] = Counter()
        for call in tenant.receiver.calls:
            calls += 1
            event_id = call.body["id"]
            if expected.get(event_id) is not tenant:
                details.append(f"{tenant.name} received {event_id}, not its event")
                bad += 1
            ids_of[event_id].add(call.headers["webhook-id"])
            seen_ids[call.headers["webhook-id"]] += 1
        redelivered += sum(n - 1 for n in seen_ids.values())
    received = [e for e in expected if ids_of.get(e)]
    extra_ids = sum(len(ids) - 1 for ids in ids_of.values() if ids)
    records = Counter(d["event_id"] for d in deliveries)
    succeeded = Counter(d["event_id"] for d in deliveries if d["status"] == "succeeded")
    return [
        Effect(
            "receivers: platform events (by webhook-id)",
            len(expected),
            len(received) + extra_ids,
            len(expected) - len(received),
            extra_ids,
            f"{calls} calls, {redelivered} redelivered under the same webhook-id",
        ),
        count_effect("receivers: bad signatures or misrouted calls", 0, bad),
        Effect(
            "hooks: delivery records (succeeded)",
            len(expected),
            sum(records.values()),
            sum(1 for e in expected if succeeded[e] == 0),
            sum(n - 1 for n in records.values() if n > 1),
        ),
    ]


async def _ratings(
    client: httpx.AsyncClient, plugin: Plugin, tenants: list[Tenant]
) -> list[Effect]:
    ratings = [t.rating for t in tenants if t.review_id]
    r = await client.get(f"/api/v1/plugins/marketplace/{plugin.slug}/reviews")
    r.raise_for_status()
    summary = r.json()["summary"]
    r = await client.get(f"/api/v1/plugins/marketplace/{plugin.slug}")
    r.raise_for_status()
    listing = r.json()
    mean = round(sum(ratings) / len(ratings), 2) if ratings else 0.0
    average = round(listing["rating"]["average"], 2)
    return [
        count_effect("reviews: rating summary count", len(ratings), summary["count"]),
        count_effect(
            "catalog: rating summary count",
            len(ratings),
            listing["rating"]["count"],
            f"average {average} (expected {mean})",
        ),
        count_effect("catalog: install count", len(tenants), listing["install_count"]),
        count_effect("catalog: rating average x100", round(mean * 100), round(average * 100)),
    ]


async def _analytics(
    client: httpx.AsyncClient,
    plugin: Plugin,
    tenants: list[Tenant],
    deliveries: list[dict[str, Any]],
) -> list[Effect]:
    now = datetime.now(UTC)
    r = await client.get(
        f"/api/v1/plugins/{plugin.id}/analytics",
        params={
            "interval": "hour",
            "from": (now - timedelta(hours=3)).isoformat(),
            "to": (now + timedelta(hours=2)).isoformat(),
        },
        headers=plugin.developer,
    )
    r.raise_for_status()
    totals = r.json()["totals"]
    # Every attempt hooks recorded is one delivery event; those not succeeded are failures.
    attempts = sum(d["attempts"] for d in deliveries)
    failures = attempts - sum(1 for d in deliveries if d["status"] == "succeeded")
    return [
        count_effect("analytics: installs", len(tenants), int(totals.get("installs") or 0)),
        count_effect("analytics: enables", len(tenants), int(totals.get("enables") or 0)),
        count_effect(
            "analytics: hook deliveries (attempts hooks recorded)",
            attempts,
            int(totals.get("hook_deliveries") or 0),
        ),
        count_effect("analytics: hook failures", failures, int(totals.get("hook_failures") or 0)),
    ]


async def dead_letter_ends(bootstrap: str) -> dict[TopicPartition, int]:
    """The end offset of every partition of every dead-letter topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the metadata partitions_for_topic reads
        parts = [
            TopicPartition(topic.dlq, p)
            for topic in ALL_TOPICS
            for p in consumer.partitions_for_topic(topic.dlq) or ()
        ]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def dead_lettered(bootstrap: str, before: dict[TopicPartition, int]) -> Effect:
    """Messages a consumer gave up on since `before`: each is an effect that never happened
    (the suite's consumers only dead-letter what they cannot process after retries)."""
    after = await dead_letter_ends(bootstrap)
    n = sum(end - before.get(part, 0) for part, end in after.items())
    return count_effect("kafka: messages dead-lettered by any consumer", 0, n)


def table(effects: list[Effect]) -> str:
    width = max(len(e.name) for e in effects)
    lines = [f"{'effect':{width}}  expected      seen      lost  duplicated"]
    for e in effects:
        lines.append(
            f"{e.name:{width}}  {e.expected:8d}  {e.seen:8d}  {e.lost:8d}  {e.duplicated:10d}"
            + (f"  ({e.note})" if e.note else "")
        )
    return "\n".join(lines)
