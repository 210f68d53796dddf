"""Every process of the running suite serves Prometheus metrics, and they move with the work.

APIs serve `/metrics` on their own port, never through the gateway; workers, relays and hooks'
dispatcher on a metrics port of their own (`deploy/local/suite.py metrics` lists them all).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.testing import LocalStack, bearer

pytestmark = pytest.mark.integration

SUITE = REPO_ROOT / "deploy" / "local" / "suite.py"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metrics_urls(instance: str) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, str(SUITE), "metrics", "--instance", instance],
        check=True,
        capture_output=True,
        text=True,
    )
    urls: dict[str, str] = json.loads(out.stdout)
    return urls


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def moved(url: str, name: str, before: float, timeout_s: float = 60, **labels: str) -> float:
    """The sample's value once it is above ``before`` (events arrive through Kafka in their own
    time), or its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = value(await scrape(url), name, **labels)
        if now > before or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.5)


async def test_every_process_serves_metrics_that_count_its_work(
    gateway: httpx.AsyncClient, local_stack: LocalStack
):
    urls = metrics_urls(local_stack.instance)
    programs = {
        f"{service}-{role}"
        for service in ("catalog", "installer", "hooks", "analytics", "reviews")
        for role in ("api", "worker", "relay")
    } | {"hooks-dispatcher"}
    assert set(urls) == programs
    scraped = {program: await scrape(url) for program, url in urls.items()}
    for program, samples in scraped.items():
        # Each is a live process's own registry (the default collectors).
        assert value(samples, "process_cpu_seconds_total") > 0, program
    for service in ("catalog", "installer", "hooks", "analytics", "reviews"):
        assert ("outbox_backlog", frozenset({("table", "outbox")})) in scraped[
            f"{service}-relay"
        ], service
    assert ("hooks_attempts_in_flight", frozenset()) in scraped["hooks-dispatcher"]

    # Never through the gateway.
    for path in ("/api/v1/installer/metrics", "/metrics"):
        r = await gateway.get(path)
        assert "# HELP" not in r.text, path

    # A request: the API's counter and latency histogram of that route move.
    run = uuid.uuid4().hex[:8]
    admin = bearer(sub=f"admin-{run}", tenant_id=f"metered-{run}", roles=["tenant_admin"])
    route = {"method": "GET", "route": "/api/v1/plugins/installed"}
    before = scraped["installer-api"]
    r = await gateway.get("/api/v1/plugins/installed", headers=admin)
    assert r.status_code == 200, r.text
    after = await scrape(urls["installer-api"])
    counted = value(after, "http_requests_total", **route, status="200")
    assert counted >= value(before, "http_requests_total", **route, status="200") + 1
    timed = value(after, "http_request_duration_seconds_count", **route)
    assert timed >= value(before, "http_request_duration_seconds_count", **route) + 1

    # An event: a plugin registered in the catalog is published by the catalog's relay and
    # applied by the installer's worker.
    published = value(scraped["catalog-relay"], "outbox_published_total", table="outbox")
    projection = {"consumer": "installer.catalog-projection", "topic": "catalog.plugin"}
    applied = value(scraped["installer-worker"], "consumer_events_applied_total", **projection)
    developer = bearer(sub=f"dev-{run}", roles=["developer"], publisher_id=f"pub-{run}")
    r = await gateway.post(
        "/api/v1/plugins/register",
        json={
            "slug": f"metered-{run}",
            "name": "Metered",
            "type": "backend",
            "category": "monitoring",
        },
        headers=developer,
    )
    assert r.status_code == 201, r.text
    register = {"method": "POST", "route": "/api/v1/plugins/register", "status": "201"}
    assert value(await scrape(urls["catalog-api"]), "http_requests_total", **register) >= 1
    assert (
        await moved(urls["catalog-relay"], "outbox_published_total", published, table="outbox")
        > published
    )
    now = await moved(
        urls["installer-worker"], "consumer_events_applied_total", applied, **projection
    )
    assert now > applied
    worker = await scrape(urls["installer-worker"])
    batches = "consumer_batch_duration_seconds_count"
    assert value(worker, batches, consumer="installer.catalog-projection") >= 1
