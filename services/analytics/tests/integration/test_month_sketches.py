"""Month latency sketches (``latency_months``, ADR 0025): a range's percentiles read whole
months from month rows and are still those of the merged sketch of every delivery in the range;
month rows stay the sum of their day rows through roll-ups, late events, replays, replicas and
retention."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from opscenter.analytics import models, sketch
from opscenter.analytics.buckets import month_floor, whole_months
from opscenter.analytics.maintenance.service import maintain
from opscenter.analytics.metrics.repository import rolled_through_for_series
from opscenter.analytics.testing import PluginEvents
from opscenter.servicekit.driver import driver
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import LocalStack

from .test_rollups_and_retention import NOW, TODAY, Instance, new_instance

PERCENTILES = {"hook_latency_p50": 0.50, "hook_latency_p95": 0.95, "hook_latency_p99": 0.99}

# Month rows that differ from the sum of their month's day rows (either side missing counts as
# zero) among the months starting at or after ``kept``. Empty is the invariant the month-level
# reads rely on.
_MONTHS_OFF = text(
    "WITH days AS (SELECT plugin_id, date_trunc('month', bucket_start, 'UTC') AS month_start,"
    " sketch_index, sum(count) AS count FROM latency_buckets WHERE grain = 'day'"
    " GROUP BY 1, 2, 3)"
    " SELECT * FROM days FULL JOIN latency_months m"
    " USING (plugin_id, month_start, sketch_index)"
    " WHERE month_start >= :kept AND days.count IS DISTINCT FROM m.count"
)


@pytest.fixture
async def instance(local_stack: LocalStack) -> AsyncIterator[Instance]:
    """Day rows kept 120 days and hour rows 100, so an hour series can check a day series
    spanning months against the hour rows it never reads."""
    async with new_instance(
        local_stack, hourly_retention_days=100, daily_retention_days=120
    ) as inst:
        yield inst


def _deliveries(p: PluginEvents, days: int, seed: int) -> tuple[list, list[int]]:
    """Deliveries at three hours of each of ``days`` days up to now, with lognormal latencies;
    the events and the latencies."""
    rng = random.Random(seed)
    events, latencies = [p.registered(TODAY - timedelta(days=days))], []
    for d in range(days, -1, -1):
        for h in (1, 13, 22):
            at = TODAY - timedelta(days=d) + timedelta(hours=h)
            if at > NOW:
                continue
            for _ in range(2):
                ms = int(rng.lognormvariate(4.0, 1.2))
                latencies.append(ms)
                events.append(p.delivery(at, ms))
    return events, latencies


async def _daily_and_hourly(
    instance: Instance, p: PluginEvents, start: datetime, metrics: str
) -> tuple[dict, dict]:
    """The day series and the hour series of ``[start, now)``: the hour one reads hour rows
    only, never a day or month row."""
    params = {"from": start.isoformat(), "to": NOW.isoformat(), "metrics": metrics}
    return (
        await instance.series(p, **params),
        await instance.series(p, interval="hour", **params),
    )


async def _months_off(instance: Instance, kept: datetime) -> list:
    async with instance.runtime.sessions() as session:
        return list((await session.execute(_MONTHS_OFF, {"kept": kept})).all())


async def _month_rows(instance: Instance) -> list[datetime]:
    async with instance.runtime.sessions() as session:
        result = await session.execute(text("SELECT DISTINCT month_start FROM latency_months"))
        return sorted(row[0] for row in result.all())


def _exact(latencies: list[int], q: float) -> int:
    return sorted(latencies)[math.floor(q * (len(latencies) - 1))]


async def test_a_range_over_months_has_the_percentiles_of_all_its_deliveries(instance):
    p = instance_plugin()
    events, latencies = _deliveries(p, days=70, seed=15)
    await instance.feed(events)
    await instance.maintain()
    start = TODAY - timedelta(days=70)
    first, last = whole_months(start, NOW)
    assert first < last  # 70 days always hold a whole month
    months = await _month_rows(instance)
    assert first in months
    assert month_floor(last - timedelta(days=1)) in months
    daily, hourly = await _daily_and_hourly(instance, p, start, ",".join(PERCENTILES))
    merged = Counter(sketch.bucket_index(ms) for ms in latencies)
    for name, q in PERCENTILES.items():
        got = daily["totals"][name]
        # The sketch of every delivery, merged, whatever rows held it (months, days, hours) ...
        assert got == sketch.quantiles(merged, [q])[0]
        assert got == hourly["totals"][name]
        # ... so within the sketch's relative accuracy of the exact percentile.
        exact = _exact(latencies, q)
        assert abs(got - exact) <= sketch.RELATIVE_ACCURACY * exact + 1e-9
    assert await _months_off(instance, start) == []


async def test_late_events_and_replays_keep_month_rows_the_sum_of_their_days(instance):
    p = instance_plugin()
    events, latencies = _deliveries(p, days=70, seed=16)
    await instance.feed(events)
    await instance.maintain()
    start = TODAY - timedelta(days=70)
    first, _ = whole_months(start, NOW)
    # Late deliveries for a day inside a whole month, fed twice (a redelivered batch).
    at = first + timedelta(days=3, hours=7)
    late = [p.delivery(at, 90_000) for _ in range(40)]
    await instance.feed([*late, *late])
    await instance.feed(events)  # the whole history replayed: nothing changes
    latencies += [90_000] * 40
    daily, hourly = await _daily_and_hourly(instance, p, start, ",".join(PERCENTILES))
    merged = Counter(sketch.bucket_index(ms) for ms in latencies)
    for name, q in PERCENTILES.items():
        assert daily["totals"][name] == sketch.quantiles(merged, [q])[0] == hourly["totals"][name]
    assert daily["totals"]["hook_latency_p99"] >= 89_000
    assert await _months_off(instance, start) == []


async def test_replicas_rolling_up_while_late_events_arrive_keep_month_rows_exact(instance):
    p = instance_plugin()
    events, _ = _deliveries(p, days=40, seed=17)
    await instance.feed(events)
    await instance.maintain(NOW - timedelta(days=20))  # the older half rolled up
    others = [Instance(instance.settings, instance.client) for _ in range(3)]
    late_at = TODAY - timedelta(days=30, hours=-2)  # before the watermark: day and month rows
    late = [p.delivery(late_at, 7_000 + i) for i in range(30)]
    try:
        await asyncio.gather(
            *(o.maintain() for o in others), instance.feed(late), others[0].feed(late)
        )
    finally:
        for o in others:
            await o.runtime.dispose()
    await instance.maintain()
    assert await _months_off(instance, TODAY - timedelta(days=120)) == []
    daily, hourly = await _daily_and_hourly(
        instance, p, TODAY - timedelta(days=40), "hook_deliveries,hook_latency_p99"
    )
    assert daily["totals"] == hourly["totals"]
    assert daily["totals"]["hook_deliveries"] == len(events) - 1 + 30


async def test_month_rows_age_out_with_their_first_day(instance):
    p = instance_plugin()
    events, _ = _deliveries(p, days=110, seed=18)
    await instance.feed(events)
    await instance.maintain()
    before = await _month_rows(instance)
    short = instance.settings.model_copy(update={"daily_retention_days": 45})
    async with instance.runtime.uow() as uow:
        await maintain(uow, short, NOW, consumer="analytics.metrics")
    cutoff = TODAY - timedelta(days=45)
    after = await _month_rows(instance)
    assert after == [m for m in before if m >= cutoff]
    assert len(after) < len(before)
    assert await _months_off(instance, cutoff) == []
    # What is kept is still read whole: a range from the cut-off agrees with its hour rows.
    daily, hourly = await _daily_and_hourly(instance, p, cutoff, "hook_latency_p95")
    assert daily["totals"] == hourly["totals"]


def instance_plugin() -> PluginEvents:
    return PluginEvents("pub-months")


async def test_a_series_transaction_plans_without_parallel_workers_and_only_it(settings):
    """The watermark read of a series turns parallel plans off for its transaction (ADR 0025);
    the connection's next transaction (the overview, the roll-up) has them as configured."""
    show = "SHOW max_parallel_workers_per_gather"
    one = ServiceRuntime.create(settings.model_copy(update={"db_pool_size": 1}), models)
    try:
        seen = []
        for _ in range(2):  # a pool of one: the second transaction has the same connection
            async with one.uow() as uow:
                conn = await driver(uow.session)
                seen.append((conn.get_server_pid(), await conn.fetchval(show)))
                await rolled_through_for_series(uow.session)
                assert await conn.fetchval(show) == "0"
        assert seen[0] == seen[1]
    finally:
        await one.dispose()
