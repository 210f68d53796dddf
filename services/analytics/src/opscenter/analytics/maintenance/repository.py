"""Roll-up and retention statements: set-based, one per table."""

# ruff: noqa: S608 - the SQL interpolates table and column names from the models.

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.analytics import sketch_sql
from opscenter.analytics.models import COUNTER_COLUMNS
from opscenter.servicekit.driver import driver

#: Day rows at this bucket hold what retention removed of ``active_delta`` (the running sum of
#: installs minus uninstalls must survive its old rows); they are never aged out themselves.
CARRY_BUCKET = "1970-01-01T00:00:00Z"

# Another replica holds it: that one does the work, this one skips the round.
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext('opscenter.analytics.maintenance'))"
# Waits for the batches that hold it shared (ingest), so none is half-way past the watermark.
_WATERMARK = "SELECT rolled_through FROM rollup_state WHERE id = 1 FOR UPDATE"


async def try_lock(session: AsyncSession) -> bool:
    locked: bool = await (await driver(session)).fetchval(_TRY_LOCK)
    return locked


async def rolled_through_for_update(session: AsyncSession) -> datetime:
    value: datetime = await (await driver(session)).fetchval(_WATERMARK)
    return value


async def set_rolled_through(session: AsyncSession, through: datetime) -> None:
    await (await driver(session)).execute(
        "UPDATE rollup_state SET rolled_through = $1 WHERE id = 1", through
    )


async def set_retention_ran(session: AsyncSession, at: datetime) -> None:
    await (await driver(session)).execute(
        "UPDATE rollup_state SET retention_ran_at = $1 WHERE id = 1", at
    )


_DAY = "date_trunc('day', bucket_start, 'UTC')"
_MONTH = "date_trunc('month', bucket_start, 'UTC')"
_SUMS = ", ".join(f"sum({c})" for c in COUNTER_COLUMNS)
_COUNTERS = ", ".join(COUNTER_COLUMNS)
_ROLLUPS = (
    f"INSERT INTO metric_counts AS m (plugin_id, grain, bucket_start, version, {_COUNTERS})"
    f" SELECT plugin_id, 'day', {_DAY}, version, {_SUMS} FROM metric_counts"
    " WHERE grain = 'hour' AND bucket_start >= $1 AND bucket_start < $2"
    f" GROUP BY plugin_id, {_DAY}, version"
    " ON CONFLICT (plugin_id, grain, bucket_start, version) DO UPDATE SET "
    + ", ".join(f"{c} = m.{c} + excluded.{c}" for c in COUNTER_COLUMNS),
    "INSERT INTO latency_buckets AS b (plugin_id, grain, bucket_start, sketch_index, count)"
    f" SELECT plugin_id, 'day', {_DAY}, sketch_index, sum(count) FROM latency_buckets"
    " WHERE grain = 'hour' AND bucket_start >= $1 AND bucket_start < $2"
    f" GROUP BY plugin_id, {_DAY}, sketch_index"
    " ON CONFLICT (plugin_id, grain, bucket_start, sketch_index)"
    " DO UPDATE SET count = b.count + excluded.count",
    # The same hours into their month rows: a month row stays the sum of its day rows.
    "INSERT INTO latency_months AS b (plugin_id, month_start, sketch_index, count)"
    f" SELECT plugin_id, {_MONTH}, sketch_index, sum(count) FROM latency_buckets"
    " WHERE grain = 'hour' AND bucket_start >= $1 AND bucket_start < $2"
    f" GROUP BY plugin_id, {_MONTH}, sketch_index"
    " ON CONFLICT (plugin_id, month_start, sketch_index)"
    " DO UPDATE SET count = b.count + excluded.count",
    "INSERT INTO revenue AS r"
    " (plugin_id, grain, bucket_start, currency, gross, developer, platform, charges)"
    f" SELECT plugin_id, 'day', {_DAY}, currency, sum(gross), sum(developer), sum(platform),"
    " sum(charges) FROM revenue"
    " WHERE grain = 'hour' AND bucket_start >= $1 AND bucket_start < $2"
    f" GROUP BY plugin_id, {_DAY}, currency"
    " ON CONFLICT (plugin_id, grain, bucket_start, currency) DO UPDATE SET"
    " gross = r.gross + excluded.gross, developer = r.developer + excluded.developer,"
    " platform = r.platform + excluded.platform, charges = r.charges + excluded.charges",
    "INSERT INTO ratings AS r (plugin_id, grain, bucket_start, as_of, average, count)"
    f" SELECT DISTINCT ON (plugin_id, {_DAY}) plugin_id, 'day', {_DAY}, as_of, average, count"
    " FROM ratings WHERE grain = 'hour' AND bucket_start >= $1 AND bucket_start < $2"
    f" ORDER BY plugin_id, {_DAY}, as_of DESC"
    " ON CONFLICT (plugin_id, grain, bucket_start) DO UPDATE SET as_of = excluded.as_of,"
    " average = excluded.average, count = excluded.count WHERE excluded.as_of >= r.as_of",
)


async def roll_up(session: AsyncSession, start: datetime, end: datetime) -> None:
    """Adds the hour rows in ``[start, end)`` to their day rows, in every metric table, and
    stores those days' latency quantiles."""
    conn = await driver(session)
    for statement in _ROLLUPS:
        await conn.execute(statement, start, end)
    await conn.execute(sketch_sql.DAY_RANGE, start, end)


_TABLES = ("metric_counts", "latency_buckets", "revenue", "ratings")


async def delete_hours_before(session: AsyncSession, before: datetime) -> None:
    conn = await driver(session)
    for table in _TABLES:
        await conn.execute(
            f"DELETE FROM {table} WHERE grain = 'hour' AND bucket_start < $1", before
        )


_CARRY_AND_DELETE_COUNTS = (
    "WITH gone AS (DELETE FROM metric_counts WHERE grain = 'day' AND bucket_start < $1"
    f" AND bucket_start > '{CARRY_BUCKET}' RETURNING plugin_id, version, active_delta)"
    f" INSERT INTO metric_counts AS m (plugin_id, grain, bucket_start, version, {_COUNTERS})"
    f" SELECT plugin_id, 'day', '{CARRY_BUCKET}', version, "
    + ", ".join("sum(active_delta)" if c == "active_delta" else "0" for c in COUNTER_COLUMNS)
    + " FROM gone GROUP BY plugin_id, version HAVING sum(active_delta) <> 0"
    " ON CONFLICT (plugin_id, grain, bucket_start, version)"
    " DO UPDATE SET active_delta = m.active_delta + excluded.active_delta"
)


async def delete_days_before(session: AsyncSession, before: datetime) -> None:
    conn = await driver(session)
    await conn.execute(_CARRY_AND_DELETE_COUNTS, before)
    for table in _TABLES[1:]:
        await conn.execute(f"DELETE FROM {table} WHERE grain = 'day' AND bucket_start < $1", before)
    await conn.execute("DELETE FROM latency_day_quantiles WHERE bucket_start < $1", before)
    # A month with a day gone no longer sums its days; no kept range covers it whole (queries
    # start at or after ``before``), so it goes with its first day.
    await conn.execute("DELETE FROM latency_months WHERE month_start < $1", before)


async def delete_ledger_before(session: AsyncSession, consumer: str, before: datetime) -> None:
    await (await driver(session)).execute(
        "DELETE FROM inbox WHERE consumer = $1 AND processed_at < $2", consumer, before
    )
