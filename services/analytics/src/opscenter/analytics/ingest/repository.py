"""The consumer's statements: one per table per batch, plain SQL on the unit of work's
connection (ADR 0010), each ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE``."""

# ruff: noqa: S608 - the SQL interpolates column names from the models; values are $n parameters.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.analytics import sketch_sql
from opscenter.analytics.models import COUNTER_COLUMNS
from opscenter.servicekit.driver import driver


class InstallationState(NamedTuple):
    installation_id: UUID
    plugin_id: UUID
    version: str
    active: bool
    sequence: int


# FOR SHARE: many batches read it at once; the roll-up's FOR UPDATE waits for them, and a batch
# that waited for a roll-up reads the watermark it committed (ADR 0013).
_ROLLED_THROUGH = "SELECT rolled_through FROM rollup_state WHERE id = 1 FOR SHARE"


async def rolled_through_shared(session: AsyncSession) -> datetime:
    """The roll-up watermark, held (shared) until the transaction ends."""
    value: datetime = await (await driver(session)).fetchval(_ROLLED_THROUGH)
    return value


_STATES = (
    "SELECT installation_id, plugin_id, version, active, sequence FROM installation_states"
    " WHERE installation_id = ANY($1::uuid[]) ORDER BY installation_id FOR UPDATE"
)


async def installation_states_for_update(
    session: AsyncSession, ids: Sequence[UUID]
) -> dict[UUID, InstallationState]:
    rows = await (await driver(session)).fetch(_STATES, sorted(ids))
    return {r["installation_id"]: InstallationState(*r) for r in rows}


_UPSERT_STATES = (
    "INSERT INTO installation_states (installation_id, plugin_id, version, active, sequence)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::varchar[], $4::bool[], $5::int[])"
    " ON CONFLICT (installation_id) DO UPDATE SET version = excluded.version,"
    " active = excluded.active, sequence = excluded.sequence"
)


async def upsert_installation_states(
    session: AsyncSession, states: Sequence[InstallationState]
) -> None:
    ordered = sorted(states)
    await (await driver(session)).execute(
        _UPSERT_STATES, *(list(c) for c in zip(*ordered, strict=True))
    )


_UPSERT_DIRECTORY = (
    "INSERT INTO plugin_directory AS d (plugin_id, slug, publisher_id)"
    " SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[])"
    " ON CONFLICT (plugin_id) DO UPDATE SET slug = excluded.slug,"
    " publisher_id = COALESCE(excluded.publisher_id, d.publisher_id)"
    " WHERE d.slug IS DISTINCT FROM excluded.slug"
    " OR (excluded.publisher_id IS NOT NULL"
    " AND d.publisher_id IS DISTINCT FROM excluded.publisher_id)"
)


async def upsert_directory(
    session: AsyncSession, entries: Mapping[UUID, tuple[str, str | None]]
) -> None:
    ordered = sorted(entries.items())
    await (await driver(session)).execute(
        _UPSERT_DIRECTORY,
        [p for p, _ in ordered],
        [slug for _, (slug, _) in ordered],
        [publisher for _, (_, publisher) in ordered],
    )


_COUNTERS = ", ".join(COUNTER_COLUMNS)
_ADD_COUNTS = (
    f"INSERT INTO metric_counts AS m (plugin_id, grain, bucket_start, version, {_COUNTERS})"
    " SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::timestamptz[], $4::varchar[], "
    + ", ".join(f"${i + 5}::bigint[]" for i in range(len(COUNTER_COLUMNS)))
    + ") ON CONFLICT (plugin_id, grain, bucket_start, version) DO UPDATE SET "
    + ", ".join(f"{c} = m.{c} + excluded.{c}" for c in COUNTER_COLUMNS)
)


async def add_counts(
    session: AsyncSession, rows: Sequence[tuple[str, tuple[UUID, datetime, str], list[int]]]
) -> None:
    """Adds each row's counters (``(grain, (plugin, bucket, version), counters)``)."""
    columns: list[list[int]] = [[] for _ in COUNTER_COLUMNS]
    for _, _, counters in rows:
        for column, value in zip(columns, counters, strict=True):
            column.append(value)
    await (await driver(session)).execute(
        _ADD_COUNTS,
        [key[0] for _, key, _ in rows],
        [grain for grain, _, _ in rows],
        [key[1] for _, key, _ in rows],
        [key[2] for _, key, _ in rows],
        *columns,
    )


_ADD_LATENCIES = (
    "INSERT INTO latency_buckets AS b (plugin_id, grain, bucket_start, sketch_index, count)"
    " SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::timestamptz[], $4::int[], $5::bigint[])"
    " ON CONFLICT (plugin_id, grain, bucket_start, sketch_index)"
    " DO UPDATE SET count = b.count + excluded.count"
)


async def add_latencies(
    session: AsyncSession, rows: Sequence[tuple[str, tuple[UUID, datetime, int], int]]
) -> None:
    await (await driver(session)).execute(
        _ADD_LATENCIES,
        [key[0] for _, key, _ in rows],
        [grain for grain, _, _ in rows],
        [key[1] for _, key, _ in rows],
        [key[2] for _, key, _ in rows],
        [count for _, _, count in rows],
    )


_ADD_MONTH_LATENCIES = (
    "INSERT INTO latency_months AS b (plugin_id, month_start, sketch_index, count)"
    " SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::bigint[])"
    " ON CONFLICT (plugin_id, month_start, sketch_index)"
    " DO UPDATE SET count = b.count + excluded.count"
)


async def add_month_latencies(
    session: AsyncSession, rows: Sequence[tuple[tuple[UUID, datetime, int], int]]
) -> None:
    """Adds ``((plugin, month start, sketch index), count)`` rows to the month sketches, in
    key order (concurrent batches lock shared rows in one order)."""
    ordered = sorted(rows, key=lambda row: (row[0][0].int, row[0][1], row[0][2]))
    await (await driver(session)).execute(
        _ADD_MONTH_LATENCIES,
        [key[0] for key, _ in ordered],
        [key[1] for key, _ in ordered],
        [key[2] for key, _ in ordered],
        [count for _, count in ordered],
    )


async def refresh_day_quantiles(
    session: AsyncSession, days: Sequence[tuple[UUID, datetime]]
) -> None:
    """Recomputes the stored quantiles of rolled-up days a late event changed."""
    ordered = sorted(days, key=lambda d: (d[0].int, d[1]))
    await (await driver(session)).execute(
        sketch_sql.DAY_PAIRS, [d[0] for d in ordered], [d[1] for d in ordered]
    )


_ADD_REVENUE = (
    "INSERT INTO revenue AS r"
    " (plugin_id, grain, bucket_start, currency, gross, developer, platform, charges)"
    " SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::timestamptz[], $4::varchar[],"
    " $5::numeric[], $6::numeric[], $7::numeric[], $8::bigint[])"
    " ON CONFLICT (plugin_id, grain, bucket_start, currency) DO UPDATE SET"
    " gross = r.gross + excluded.gross, developer = r.developer + excluded.developer,"
    " platform = r.platform + excluded.platform, charges = r.charges + excluded.charges"
)


async def add_revenue(
    session: AsyncSession, rows: Sequence[tuple[str, tuple[UUID, datetime, str], list[Decimal]]]
) -> None:
    await (await driver(session)).execute(
        _ADD_REVENUE,
        [key[0] for _, key, _ in rows],
        [grain for grain, _, _ in rows],
        [key[1] for _, key, _ in rows],
        [key[2] for _, key, _ in rows],
        [amounts[0] for _, _, amounts in rows],
        [amounts[1] for _, _, amounts in rows],
        [amounts[2] for _, _, amounts in rows],
        [int(amounts[3]) for _, _, amounts in rows],
    )


_SET_RATINGS = (
    "INSERT INTO ratings AS r (plugin_id, grain, bucket_start, as_of, average, count)"
    " SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::timestamptz[], $4::timestamptz[],"
    " $5::float8[], $6::int[])"
    " ON CONFLICT (plugin_id, grain, bucket_start) DO UPDATE SET as_of = excluded.as_of,"
    " average = excluded.average, count = excluded.count WHERE excluded.as_of >= r.as_of"
)


async def set_ratings(
    session: AsyncSession,
    rows: Sequence[tuple[str, tuple[UUID, datetime], tuple[datetime, float, int]]],
) -> None:
    """Keeps, per bucket, the summary with the newest ``as_of``."""
    await (await driver(session)).execute(
        _SET_RATINGS,
        [key[0] for _, key, _ in rows],
        [grain for grain, _, _ in rows],
        [key[1] for _, key, _ in rows],
        [value[0] for _, _, value in rows],
        [value[1] for _, _, value in rows],
        [value[2] for _, _, value in rows],
    )
