"""Roll-ups and retention by the service itself: hour rows become day rows once, old rows go,
and several replicas running at once change no number."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from opscenter.analytics import models
from opscenter.analytics.buckets import floor
from opscenter.analytics.main import create_app
from opscenter.analytics.maintenance.service import maintain
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.analytics.testing import PluginEvents, Tokens
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import LocalStack, drop_database, migrated_database

from .conftest import DeadLetters, make_settings, metrics_consumer, records_of

NOW = floor(datetime.now(UTC), "hour") + timedelta(minutes=30)
TODAY = floor(NOW, "day")


class Instance:
    """A database of its own (roll-ups move its one watermark), its app and consumer."""

    def __init__(self, settings: AnalyticsSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        self.runtime = ServiceRuntime.create(settings, models)
        self.consumer = metrics_consumer(self.runtime, DeadLetters())
        self.tokens = Tokens(settings)

    async def feed(self, events) -> None:
        await self.consumer.process(records_of(events))

    async def maintain(self, now: datetime = NOW):
        async with self.runtime.uow() as uow:
            return await maintain(uow, self.settings, now, consumer="analytics.metrics")

    async def series(self, p: PluginEvents, **params: str) -> dict:
        r = await self.client.get(
            f"/api/v1/plugins/{p.slug}/analytics", params=params, headers=self.tokens.admin()
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def buckets(self, grain: str) -> int:
        """How many distinct buckets of ``grain`` the counters have."""
        async with self.runtime.sessions() as session:
            result = await session.execute(
                models.metric_counts.select().where(models.metric_counts.c.grain == grain)
            )
            return len({row.bucket_start for row in result.all()})


@asynccontextmanager
async def new_instance(local_stack: LocalStack, **settings: object) -> AsyncIterator[Instance]:
    """An instance on a database of its own, with these settings."""
    url = await migrated_database(local_stack, "analytics")
    # No grace: NOW is half past the current hour, which within an hour after midnight would
    # otherwise leave yesterday un-rolled and make the tests depend on the time of day.
    app_settings = make_settings(url, local_stack, **{"rollup_grace_s": 0, **settings})
    app = create_app(app_settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        inst = Instance(app_settings, client)
        yield inst
        await inst.runtime.dispose()
    await app.state.runtime.dispose()
    await drop_database(local_stack, url)


@pytest.fixture
async def instance(local_stack: LocalStack) -> AsyncIterator[Instance]:
    async with new_instance(local_stack, hourly_retention_days=3, daily_retention_days=40) as i:
        yield i


def _history(p: PluginEvents, days: int) -> list:
    events = [p.registered(TODAY - timedelta(days=days))]
    for d in range(days, -1, -1):
        for h in (1, 13, 22):
            at = TODAY - timedelta(days=d) + timedelta(hours=h)
            if at > NOW:
                continue
            events += [
                p.downloaded(at),
                p.installed(at, uuid.uuid4()),
                p.delivery(at, 20 * (h + d)),
                p.charged(at, Decimal("3.33")),
            ]
    return events


async def test_a_roll_up_keeps_every_day_series_number_and_happens_once(instance):
    p = PluginEvents("pub-rollup")
    await instance.feed(_history(p, days=2))
    params = {"from": (TODAY - timedelta(days=2)).isoformat(), "to": NOW.isoformat()}
    before = await instance.series(p, **params)
    assert before["totals"]["downloads"] > 0

    first = await instance.maintain()
    assert first.ran
    assert first.rolled_through == TODAY
    assert await instance.buckets("day") == 2  # the two complete days
    again = await instance.maintain()
    assert again.ran
    assert again.rolled_from is None  # nothing left to roll
    assert await instance.series(p, **params) == before
    hourly = await instance.series(p, interval="hour", **params)
    assert hourly["totals"]["downloads"] == before["totals"]["downloads"]


async def test_an_event_for_a_rolled_up_day_still_counts_once(instance):
    p = PluginEvents("pub-late")
    await instance.feed(_history(p, days=2))
    await instance.maintain()
    params = {"from": (TODAY - timedelta(days=2)).isoformat(), "to": NOW.isoformat()}
    before = await instance.series(p, **params)
    at = TODAY - timedelta(days=2, hours=-5)
    late = [p.downloaded(at), *(p.delivery(at, 60_000) for _ in range(5))]
    await instance.feed([*late, *late])
    after = await instance.series(p, **params)
    assert after["series"][0]["downloads"] == before["series"][0]["downloads"] + 1
    assert after["series"][0]["hook_deliveries"] == before["series"][0]["hook_deliveries"] + 5
    hourly = await instance.series(p, interval="hour", **params)
    assert hourly["totals"]["downloads"] == after["totals"]["downloads"]
    # the stored quantiles of the rolled-up day were recomputed with the late latencies:
    # they agree with the day's merged sketch (the totals of a one-day range)
    one_day = await instance.series(
        p, **{"from": params["from"], "to": (TODAY - timedelta(days=1)).isoformat()}
    )
    assert one_day["series"][0]["hook_latency_p99"] > before["series"][0]["hook_latency_p99"]
    for name in ("hook_latency_p50", "hook_latency_p95", "hook_latency_p99"):
        assert one_day["series"][0][name] == one_day["totals"][name]


async def test_old_rows_age_out_and_active_installs_survive_them(instance):
    p = PluginEvents("pub-old")
    await instance.feed(_history(p, days=45))
    params = {"from": (TODAY - timedelta(days=10)).isoformat(), "to": NOW.isoformat()}
    before = await instance.series(p, metrics="active_installs,downloads", **params)
    await instance.maintain()
    after = await instance.series(p, metrics="active_installs,downloads", **params)
    assert after == before
    async with instance.runtime.sessions() as session:
        oldest_hour = (
            await session.execute(
                models.metric_counts.select()
                .where(models.metric_counts.c.grain == "hour")
                .order_by(models.metric_counts.c.bucket_start)
                .limit(1)
            )
        ).first()
        days = (
            await session.execute(
                models.metric_counts.select().where(models.metric_counts.c.grain == "day")
            )
        ).all()
    assert oldest_hour is not None
    assert oldest_hour.bucket_start >= TODAY - timedelta(days=3)
    real_days = [d for d in days if d.bucket_start.year > 1970]
    assert min(d.bucket_start for d in real_days) >= TODAY - timedelta(days=40)
    carry = [d for d in days if d.bucket_start.year == 1970]
    assert sum(d.active_delta for d in carry) == 3 * 5  # days 41..45 before the cut-off
    too_old = await instance.client.get(
        f"/api/v1/plugins/{p.slug}/analytics",
        params={"from": (TODAY - timedelta(days=41)).isoformat()},
        headers=instance.tokens.admin(),
    )
    assert too_old.status_code == 422


async def test_replicas_maintaining_at_once_roll_up_once(instance, local_stack):
    p = PluginEvents("pub-replicas")
    await instance.feed(_history(p, days=3))
    params = {"from": (TODAY - timedelta(days=3)).isoformat(), "to": NOW.isoformat()}
    before = await instance.series(p, **params)
    others = [
        Instance(instance.settings, instance.client) for _ in range(3)
    ]  # other processes' pools
    try:
        feeding = instance.feed(_history(p, days=0))  # ingest keeps going meanwhile
        rounds = await asyncio.gather(*(o.maintain() for o in others), feeding)
    finally:
        for o in others:
            await o.runtime.dispose()
    ran = [r for r in rounds[:3] if r.ran and r.rolled_from is not None]
    assert len(ran) <= 1
    await instance.maintain()
    after = await instance.series(p, **params)
    assert after["totals"]["downloads"] == before["totals"]["downloads"] + len(
        [h for h in (1, 13, 22) if TODAY + timedelta(hours=h) <= NOW]
    )
