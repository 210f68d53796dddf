"""One plugin's metric series and the platform overview.

Invariants:
- Every bucket of the range is answered; a bucket without events is zeros (counters), or the
  value the gauge held then (``active_installs``, ``rating``: carried forward).
- Percentiles of a bucket, and of the whole range, come from the merged sketch of its rows
  (``sketch.quantiles``), never from averaging other percentiles.
- Money stays ``Decimal`` from the database to the answer, per currency.
- A developer sees only plugins its publisher published; another's answers 404, as a plugin
  the service has never heard of does.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from opscenter.analytics import sketch
from opscenter.analytics.buckets import STEP, Interval, floor, starts, utc
from opscenter.analytics.metrics import repository as repo
from opscenter.analytics.models import COUNTER_COLUMNS
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.servicekit.errors import Problem, field_error, not_found
from opscenter.servicekit.uow import UnitOfWork

#: Metric name -> its ``metric_counts`` column.
COUNTERS = {
    "installs": "installs",
    "uninstalls": "uninstalls",
    "enables": "enables",
    "disables": "disables",
    "downloads": "downloads",
    "hook_deliveries": "deliveries",
    "hook_failures": "failures",
    "hook_dead_letters": "dead_letters",
}
PERCENTILES = {"hook_latency_p50": 0.50, "hook_latency_p95": 0.95, "hook_latency_p99": 0.99}
METRICS: tuple[str, ...] = (
    *COUNTERS,
    "active_installs",
    *PERCENTILES,
    "rating",
    "revenue",
)
#: Metrics a plugin version has (hook deliveries, reviews and charges are the plugin's).
VERSIONED = frozenset(
    {"installs", "uninstalls", "enables", "disables", "downloads", "active_installs"}
)
_COLUMN_INDEX = {name: i for i, name in enumerate(COUNTER_COLUMNS)}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Viewer:
    is_admin: bool
    publisher_id: str | None


@dataclass(frozen=True)
class SeriesQuery:
    start: datetime | None
    end: datetime | None
    interval: Interval
    metrics: str | None
    version: str | None


@dataclass
class Series:
    plugin: repo.PluginEntry
    interval: Interval
    start: datetime
    end: datetime
    version: str | None
    metrics: list[str]
    points: list[dict[str, Any]]
    totals: dict[str, Any]


def parse_metrics(raw: str | None, version: str | None) -> list[str]:
    """The requested metric names in the service's order; 422 naming ``metrics`` for unknown
    names, or for a metric no version has when ``version`` is given."""
    if raw is None or not raw.strip():
        return [m for m in METRICS if version is None or m in VERSIONED]
    names = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = sorted({n for n in names if n not in METRICS})
    if unknown:
        raise _invalid(
            "metrics", f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}"
        )
    if version is not None:
        unversioned = sorted({n for n in names if n not in VERSIONED})
        if unversioned:
            raise _invalid(
                "metrics",
                f"{', '.join(unversioned)} are per plugin, not per version; "
                f"per version: {', '.join(sorted(VERSIONED))}",
            )
    return [m for m in METRICS if m in set(names)]


def resolve_range(
    q: SeriesQuery, settings: AnalyticsSettings, now: datetime
) -> tuple[datetime, datetime]:
    """``[start, end)`` aligned to the interval; 422 naming ``from`` or ``to`` when it is
    empty, reaches past what is kept, or has more buckets than ``max_buckets``."""
    end = utc(q.end) if q.end is not None else now
    default_span = timedelta(days=1) if q.interval == "hour" else timedelta(days=30)
    start = floor(utc(q.start) if q.start is not None else end - default_span, q.interval)
    if q.start is not None and q.end is not None and utc(q.start) >= end:
        raise _invalid("from", "from must be before to")
    if start >= end:
        raise _invalid("to", "to must be after the start of from's bucket")
    kept_days = (
        settings.hourly_retention_days if q.interval == "hour" else settings.daily_retention_days
    )
    oldest = floor(now, "day") - timedelta(days=kept_days)
    if start < oldest:
        raise _invalid(
            "from",
            f"{q.interval} buckets are kept {kept_days} days: from must be at or after "
            f"{oldest.isoformat()}",
        )
    if (end - start) / STEP[q.interval] > settings.max_buckets:
        raise _invalid(
            "from", f"the range has more than {settings.max_buckets} {q.interval} buckets"
        )
    return start, end


async def find_plugin(uow: UnitOfWork, ref: str, viewer: Viewer) -> repo.PluginEntry:
    """The plugin named by UUID or slug, if the viewer may see it; else 404."""
    session = uow.session
    if _UUID.match(ref):
        entry = await repo.plugin_by_id(session, uuid.UUID(ref))
    else:
        entry = await repo.plugin_by_slug(session, ref)
    if entry is None:
        raise not_found("Plugin")
    if not viewer.is_admin and (
        viewer.publisher_id is None or entry.publisher_id != viewer.publisher_id
    ):
        raise not_found("Plugin")
    return entry


async def plugin_series(
    uow: UnitOfWork,
    ref: str,
    viewer: Viewer,
    q: SeriesQuery,
    settings: AnalyticsSettings,
    now: datetime,
) -> Series:
    metrics = parse_metrics(q.metrics, q.version)
    start, end = resolve_range(q, settings, now)
    plugin = await find_plugin(uow, ref, viewer)
    session = uow.session
    r = repo.Range(q.interval, start, end, await repo.rolled_through_for_series(session))
    buckets = starts(start, end, q.interval)
    points: list[dict[str, Any]] = [{"bucket_start": b} for b in buckets]
    totals: dict[str, Any] = {}
    wanted = set(metrics)
    if wanted & {*COUNTERS, "active_installs"}:
        await _add_counts(session, r, plugin, q.version, metrics, points, totals)
    if wanted & set(PERCENTILES):
        await _add_latencies(session, r, plugin, metrics, points, totals)
    if "rating" in wanted:
        await _add_ratings(session, r, plugin, points, totals)
    if "revenue" in wanted:
        await _add_revenue(session, r, plugin, points, totals)
    return Series(plugin, q.interval, start, end, q.version, metrics, points, totals)


async def _add_counts(
    session: Any,
    r: repo.Range,
    plugin: repo.PluginEntry,
    version: str | None,
    metrics: list[str],
    points: list[dict[str, Any]],
    totals: dict[str, Any],
) -> None:
    rows = {row["bucket"]: row for row in await repo.counts(session, r, plugin.plugin_id, version)}
    counters = [m for m in metrics if m in COUNTERS]
    for name in counters:
        totals[name] = 0
    active = None
    if "active_installs" in metrics:
        cut = min(floor(r.start, "day"), r.watermark)
        active = await repo.active_before(session, plugin.plugin_id, version, cut, r.start)
    for point in points:
        row = rows.get(point["bucket_start"])
        for name in counters:
            value = int(row[COUNTERS[name]]) if row is not None else 0
            point[name] = value
            totals[name] += value
        if active is not None:
            active += int(row["active_delta"]) if row is not None else 0
            point["active_installs"] = active
    if active is not None:
        totals["active_installs"] = active


async def _add_latencies(
    session: Any,
    r: repo.Range,
    plugin: repo.PluginEntry,
    metrics: list[str],
    points: list[dict[str, Any]],
    totals: dict[str, Any],
) -> None:
    names = [m for m in metrics if m in PERCENTILES]
    columns = {"hook_latency_p50": "i50", "hook_latency_p95": "i95", "hook_latency_p99": "i99"}
    picked = {
        row["bucket"]: [sketch.bucket_value(row[columns[n]]) for n in names]
        for row in await repo.latency_quantile_indexes(session, r, plugin.plugin_id)
    }
    empty: list[float | None] = [None] * len(names)
    for point in points:
        point.update(zip(names, picked.get(point["bucket_start"], empty), strict=True))
    merged = {
        row["sketch_index"]: row["count"]
        for row in await repo.merged_latencies(session, r, plugin.plugin_id)
    }
    totals.update(
        zip(names, sketch.quantiles(merged, [PERCENTILES[n] for n in names]), strict=True)
    )


async def _add_ratings(
    session: Any,
    r: repo.Range,
    plugin: repo.PluginEntry,
    points: list[dict[str, Any]],
    totals: dict[str, Any],
) -> None:
    rows = {row["bucket"]: row for row in await repo.ratings(session, r, plugin.plugin_id)}
    before = await repo.rating_before(session, plugin.plugin_id, r.start)
    current = None if before is None else {"average": before["average"], "count": before["count"]}
    for point in points:
        row = rows.get(point["bucket_start"])
        if row is not None:
            current = {"average": row["average"], "count": row["count"]}
        point["rating"] = current
    totals["rating"] = current


async def _add_revenue(
    session: Any,
    r: repo.Range,
    plugin: repo.PluginEntry,
    points: list[dict[str, Any]],
    totals: dict[str, Any],
) -> None:
    by_bucket: defaultdict[datetime, dict[str, dict[str, Any]]] = defaultdict(dict)
    currencies: set[str] = set()
    for row in await repo.revenue(session, r, plugin.plugin_id):
        by_bucket[row["bucket"]][row["currency"]] = _money(row)
        currencies.add(row["currency"])
    sums = {c: _zero_money() for c in sorted(currencies)}
    for point in points:
        found = by_bucket.get(point["bucket_start"], {})
        point["revenue"] = {c: found.get(c) or _zero_money() for c in sorted(currencies)}
        for c, amounts in point["revenue"].items():
            for key in ("gross", "developer", "platform", "charges"):
                sums[c][key] += amounts[key]
    totals["revenue"] = sums


def _money(row: Any) -> dict[str, Any]:
    return {
        "gross": row["gross"],
        "developer": row["developer"],
        "platform": row["platform"],
        "charges": int(row["charges"]),
    }


def _zero_money() -> dict[str, Any]:
    return {"gross": ZERO, "developer": ZERO, "platform": ZERO, "charges": 0}


@dataclass
class Overview:
    start: datetime
    end: datetime
    top_by_installs: list[dict[str, Any]]
    top_by_deliveries: list[dict[str, Any]]
    top_by_revenue: list[dict[str, Any]]
    totals: dict[str, Any]


async def overview(
    uow: UnitOfWork,
    q: SeriesQuery,
    currency: str,
    limit: int,
    settings: AnalyticsSettings,
    now: datetime,
) -> Overview:
    """Top plugins by installs, hook deliveries and revenue in ``currency``, and the
    platform's totals, over the range (day buckets)."""
    start, end = resolve_range(q, settings, now)
    session = uow.session
    r = repo.Range("day", start, end, await repo.rolled_through(session))

    def ranked(rows: list[Any]) -> list[dict[str, Any]]:
        return [
            {"plugin_id": row["plugin_id"], "slug": row["slug"], "value": int(row["value"])}
            for row in rows
        ]

    by_installs = ranked(await repo.top_by_counter(session, r, "installs", limit))
    by_deliveries = ranked(await repo.top_by_counter(session, r, "deliveries", limit))
    by_revenue = [
        {"plugin_id": row["plugin_id"], "slug": row["slug"], "currency": currency, **_money(row)}
        for row in await repo.top_by_revenue(session, r, currency, limit)
    ]
    sums = await repo.platform_totals(session, r)
    totals: dict[str, Any] = {name: int(sums[column] or 0) for name, column in COUNTERS.items()}
    cut = min(floor(end, "day"), r.watermark)
    totals["active_installs"] = await repo.platform_active(session, cut, end)
    totals["revenue"] = {
        row["currency"]: _money(row) for row in await repo.platform_revenue(session, r)
    }
    return Overview(start, end, by_installs, by_deliveries, by_revenue, totals)


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        "validation-error",
        f"The request is invalid: {field}: {message}",
        errors=[field_error(f"query.{field}", message)],
    )
