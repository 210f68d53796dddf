"""Reads of the metric tables for one plugin's series and for the platform overview.

A range of ``day`` buckets reads ``day`` rows before the roll-up watermark and ``hour`` rows
(grouped by UTC day) from it on; a range of ``hour`` buckets reads ``hour`` rows. Parameters of
every ranged statement: ``$1`` start, ``$2`` end (exclusive), ``$3`` watermark, then ``$4`` the
plugin and ``$5`` the version (NULL: every version) where the statement takes them.
"""

# ruff: noqa: S608 - the SQL interpolates table and column names from the models.

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import NamedTuple
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.analytics import sketch_sql
from opscenter.analytics.buckets import Interval, whole_months
from opscenter.analytics.models import COUNTER_COLUMNS
from opscenter.servicekit.driver import driver


class PluginEntry(NamedTuple):
    plugin_id: UUID
    slug: str
    publisher_id: str | None


async def plugin_by_id(session: AsyncSession, plugin_id: UUID) -> PluginEntry | None:
    row = await (await driver(session)).fetchrow(
        "SELECT plugin_id, slug, publisher_id FROM plugin_directory WHERE plugin_id = $1",
        plugin_id,
    )
    return None if row is None else PluginEntry(*row)


async def plugin_by_slug(session: AsyncSession, slug: str) -> PluginEntry | None:
    row = await (await driver(session)).fetchrow(
        "SELECT plugin_id, slug, publisher_id FROM plugin_directory WHERE slug = $1"
        " ORDER BY plugin_id LIMIT 1",
        slug,
    )
    return None if row is None else PluginEntry(*row)


async def rolled_through(session: AsyncSession) -> datetime:
    value: datetime = await (await driver(session)).fetchval(
        "SELECT rolled_through FROM rollup_state WHERE id = 1"
    )
    return value


# Also turns parallel plans off for the rest of the transaction (set_config(..., true) is
# SET LOCAL), in the same round trip. A plugin's series reads a few hundred to a few thousand
# rows of one plugin per statement; the planner still picks a parallel plan for the merged
# sketch, and starting its workers cost more than the scans (28 of 46 ms on the shared host,
# bench/RESULTS.md 2026-12-08). The platform overview, which scans every plugin, keeps them.
_SERIES_WATERMARK = (
    "SELECT rolled_through, set_config('max_parallel_workers_per_gather', '0', true)"
    " FROM rollup_state WHERE id = 1"
)


async def rolled_through_for_series(session: AsyncSession) -> datetime:
    """The watermark; the transaction's later statements plan without parallel workers."""
    row = await (await driver(session)).fetchrow(_SERIES_WATERMARK)
    value: datetime = row[0]
    return value


@cache
def _source(table: str, columns: str, interval: Interval, *, plugin: bool, versioned: bool) -> str:
    """Rows of ``table`` in the range as ``(bucket, columns...)``."""
    where = " AND plugin_id = $4" if plugin else ""
    if versioned:
        where += " AND ($5::varchar IS NULL OR version = $5)"
    if interval == "hour":
        return (
            f"SELECT bucket_start AS bucket, {columns} FROM {table}"
            " WHERE grain = 'hour' AND bucket_start >= $1 AND bucket_start < $2"
            f" AND $3::timestamptz IS NOT NULL{where}"
        )
    return (
        f"SELECT bucket_start AS bucket, {columns} FROM {table}"
        f" WHERE grain = 'day' AND bucket_start >= $1"
        f" AND bucket_start < LEAST($2::timestamptz, $3::timestamptz){where}"
        f" UNION ALL SELECT date_trunc('day', bucket_start, 'UTC'), {columns} FROM {table}"
        " WHERE grain = 'hour' AND bucket_start >= GREATEST($1::timestamptz, $3::timestamptz)"
        f" AND bucket_start < $2{where}"
    )


_COUNTERS = ", ".join(COUNTER_COLUMNS)
_SUMS = ", ".join(f"sum({c})::bigint AS {c}" for c in COUNTER_COLUMNS)


class Range(NamedTuple):
    interval: Interval
    start: datetime
    end: datetime
    watermark: datetime


def _args(r: Range) -> tuple[datetime, datetime, datetime]:
    return (r.start, r.end, r.watermark)


async def counts(
    session: AsyncSession, r: Range, plugin_id: UUID, version: str | None
) -> list[asyncpg.Record]:
    """``(bucket, counters...)`` per bucket with any row."""
    sql = (
        f"SELECT bucket, {_SUMS} FROM ("
        + _source("metric_counts", _COUNTERS, r.interval, plugin=True, versioned=True)
        + ") s GROUP BY bucket"
    )
    return await (await driver(session)).fetch(sql, *_args(r), plugin_id, version)


_ACTIVE_BEFORE = (
    "SELECT COALESCE(sum(active_delta), 0)::bigint FROM metric_counts WHERE plugin_id = $1"
    " AND ($4::varchar IS NULL OR version = $4)"
    " AND ((grain = 'day' AND bucket_start < $2)"
    " OR (grain = 'hour' AND bucket_start >= $2 AND bucket_start < $3))"
)


async def active_before(
    session: AsyncSession, plugin_id: UUID, version: str | None, cut: datetime, moment: datetime
) -> int:
    """Installs minus uninstalls before ``moment``: day rows before ``cut`` (the watermark or
    the moment's day, whichever is earlier), hour rows from ``cut`` to ``moment``."""
    value: int = await (await driver(session)).fetchval(
        _ACTIVE_BEFORE, plugin_id, cut, moment, version
    )
    return value


async def latency_quantile_indexes(
    session: AsyncSession, r: Range, plugin_id: UUID
) -> list[asyncpg.Record]:
    """``(bucket, i50, i95, i99)``: each bucket's quantiles as sketch indexes. Rolled-up days
    read the quantiles the roll-up stored (a year is 365 rows); other buckets are computed
    from their sketch rows where they are."""
    hour_rows = (
        "SELECT {bucket} AS bucket, sketch_index, count FROM latency_buckets"
        " WHERE grain = 'hour' AND plugin_id = $4 AND bucket_start >= {start}"
        " AND bucket_start < $2"
    )
    if r.interval == "hour":
        computed = sketch_sql.quantile_indexes(
            hour_rows.format(bucket="bucket_start", start="$1::timestamptz")
            + " AND $3::timestamptz IS NOT NULL",
            "bucket",
        )
        return await (await driver(session)).fetch(computed, *_args(r), plugin_id)
    computed = sketch_sql.quantile_indexes(
        hour_rows.format(
            bucket="date_trunc('day', bucket_start, 'UTC')",
            start="GREATEST($1::timestamptz, $3::timestamptz)",
        ),
        "bucket",
    )
    sql = (
        "SELECT bucket_start AS bucket, i50, i95, i99 FROM latency_day_quantiles"
        " WHERE plugin_id = $4 AND bucket_start >= $1"
        " AND bucket_start < LEAST($2::timestamptz, $3::timestamptz)"
        f" UNION ALL ({computed})"
    )
    return await (await driver(session)).fetch(sql, *_args(r), plugin_id)


# The day-interval range's merged sketch: whole months from month rows ($5 to $6, both
# month-aligned, inside [$1, $2); equal when there is none), the other rolled-up days from day
# rows (before $5 and from $6, before the watermark), hours from the watermark on. A month row
# is the sum of its day rows (ADR 0025), so every event of the range is read exactly once.
_MERGED_DAYS = (
    "SELECT sketch_index, sum(count)::bigint AS count FROM ("
    "SELECT sketch_index, count FROM latency_months"
    " WHERE plugin_id = $4 AND month_start >= $5 AND month_start < $6"
    " UNION ALL SELECT sketch_index, count FROM latency_buckets"
    " WHERE plugin_id = $4 AND grain = 'day' AND bucket_start >= $1"
    " AND bucket_start < LEAST($2::timestamptz, $3::timestamptz, $5::timestamptz)"
    " UNION ALL SELECT sketch_index, count FROM latency_buckets"
    " WHERE plugin_id = $4 AND grain = 'day' AND bucket_start >= $6"
    " AND bucket_start < LEAST($2::timestamptz, $3::timestamptz)"
    " UNION ALL SELECT sketch_index, count FROM latency_buckets"
    " WHERE plugin_id = $4 AND grain = 'hour'"
    " AND bucket_start >= GREATEST($1::timestamptz, $3::timestamptz) AND bucket_start < $2"
    ") s GROUP BY sketch_index"
)


async def merged_latencies(
    session: AsyncSession, r: Range, plugin_id: UUID
) -> list[asyncpg.Record]:
    """``(sketch_index, count)``: the sketch of the whole range, merged."""
    if r.interval == "day":
        first, last = whole_months(r.start, r.end)
        return await (await driver(session)).fetch(_MERGED_DAYS, *_args(r), plugin_id, first, last)
    sql = (
        "SELECT sketch_index, sum(count)::bigint AS count FROM ("
        + _source(
            "latency_buckets", "sketch_index, count", r.interval, plugin=True, versioned=False
        )
        + ") s GROUP BY sketch_index"
    )
    return await (await driver(session)).fetch(sql, *_args(r), plugin_id)


_MONEY = "gross, developer, platform, charges"
_MONEY_SUMS = (
    "sum(gross) AS gross, sum(developer) AS developer, sum(platform) AS platform,"
    " sum(charges)::bigint AS charges"
)


async def revenue(session: AsyncSession, r: Range, plugin_id: UUID) -> list[asyncpg.Record]:
    """``(bucket, currency, gross, developer, platform, charges)``."""
    sql = (
        f"SELECT bucket, currency, {_MONEY_SUMS} FROM ("
        + _source("revenue", f"currency, {_MONEY}", r.interval, plugin=True, versioned=False)
        + ") s GROUP BY bucket, currency"
    )
    return await (await driver(session)).fetch(sql, *_args(r), plugin_id)


async def ratings(session: AsyncSession, r: Range, plugin_id: UUID) -> list[asyncpg.Record]:
    """``(bucket, average, count)``: the newest summary of each bucket."""
    sql = (
        "SELECT DISTINCT ON (bucket) bucket, average, count FROM ("
        + _source("ratings", "as_of, average, count", r.interval, plugin=True, versioned=False)
        + ") s ORDER BY bucket, as_of DESC"
    )
    return await (await driver(session)).fetch(sql, *_args(r), plugin_id)


async def rating_before(
    session: AsyncSession, plugin_id: UUID, moment: datetime
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await (await driver(session)).fetchrow(
        "SELECT average, count FROM ratings WHERE plugin_id = $1 AND as_of < $2"
        " ORDER BY as_of DESC LIMIT 1",
        plugin_id,
        moment,
    )
    return row


async def platform_totals(session: AsyncSession, r: Range) -> asyncpg.Record:
    sql = (
        f"SELECT {_SUMS} FROM ("
        + _source("metric_counts", _COUNTERS, r.interval, plugin=False, versioned=False)
        + ") s"
    )
    row: asyncpg.Record = await (await driver(session)).fetchrow(sql, *_args(r))
    return row


async def platform_active(session: AsyncSession, cut: datetime, moment: datetime) -> int:
    value: int = await (await driver(session)).fetchval(
        "SELECT COALESCE(sum(active_delta), 0)::bigint FROM metric_counts"
        " WHERE (grain = 'day' AND bucket_start < $1)"
        " OR (grain = 'hour' AND bucket_start >= $1 AND bucket_start < $2)",
        cut,
        moment,
    )
    return value


async def platform_revenue(session: AsyncSession, r: Range) -> list[asyncpg.Record]:
    sql = (
        f"SELECT currency, {_MONEY_SUMS} FROM ("
        + _source("revenue", f"currency, {_MONEY}", r.interval, plugin=False, versioned=False)
        + ") s GROUP BY currency ORDER BY currency"
    )
    return await (await driver(session)).fetch(sql, *_args(r))


async def top_by_counter(
    session: AsyncSession, r: Range, column: str, limit: int
) -> list[asyncpg.Record]:
    """``(plugin_id, slug, value)`` of the plugins with the largest sum of ``column``."""
    if column not in COUNTER_COLUMNS:
        raise ValueError(column)
    sql = (
        f"SELECT s.plugin_id, d.slug, sum(s.{column})::bigint AS value FROM ("
        + _source(
            "metric_counts", f"plugin_id, {column}", r.interval, plugin=False, versioned=False
        )
        + f") s LEFT JOIN plugin_directory d ON d.plugin_id = s.plugin_id"
        f" GROUP BY s.plugin_id, d.slug HAVING sum(s.{column}) > 0"
        " ORDER BY value DESC, s.plugin_id LIMIT $4"
    )
    return await (await driver(session)).fetch(sql, *_args(r), limit)


async def top_by_revenue(
    session: AsyncSession, r: Range, currency: str, limit: int
) -> list[asyncpg.Record]:
    """``(plugin_id, slug, gross, developer, platform, charges)`` in ``currency``."""
    sql = (
        f"SELECT s.plugin_id, d.slug, {_MONEY_SUMS} FROM ("
        + _source(
            "revenue", f"plugin_id, currency, {_MONEY}", r.interval, plugin=False, versioned=False
        )
        + ") s LEFT JOIN plugin_directory d ON d.plugin_id = s.plugin_id WHERE s.currency = $4"
        " GROUP BY s.plugin_id, d.slug HAVING sum(gross) > 0"
        " ORDER BY gross DESC, s.plugin_id LIMIT $5"
    )
    return await (await driver(session)).fetch(sql, *_args(r), currency, limit)
