"""The sketch's quantiles in SQL, shared by the roll-up, late ingest and the queries.

For each group of ``(bucket, sketch_index, count)`` rows, the index of p50, p95 and p99: the
first index whose cumulative count passes rank ``floor(q * (n - 1))`` (``sketch.quantiles``
does the same in Python), in one window pass over the rows.
"""

# ruff: noqa: S608 - the SQL interpolates fixed quantiles and column names, never values.

from __future__ import annotations

QUANTILES = (0.50, 0.95, 0.99)


def quantile_indexes(rows_sql: str, group: str) -> str:
    """``SELECT <group columns>, i50, i95, i99`` over ``rows_sql``, which selects the
    ``group`` columns (comma-separated), ``sketch_index`` and ``count``."""
    picks = ", ".join(
        f"min(sketch_index) FILTER (WHERE cumulative > floor({q} * (total - 1)))"
        f" AS i{round(q * 100)}"
        for q in QUANTILES
    )
    return (
        f"WITH s AS (SELECT {group}, sketch_index, sum(count) AS c FROM ({rows_sql}) u"
        f" GROUP BY {group}, sketch_index),"
        f" w AS (SELECT {group}, sketch_index,"
        f" sum(c) OVER (PARTITION BY {group} ORDER BY sketch_index) AS cumulative,"
        f" sum(c) OVER (PARTITION BY {group}) AS total FROM s)"
        f" SELECT {group}, {picks} FROM w GROUP BY {group}"
    )


#: Recomputes the stored day quantiles of the ``(plugin, day)`` pairs ``$1``/``$2``, or of every
#: plugin-day in ``[$1, $2)`` (``DAY_RANGE``), from the day sketches.
_UPSERT = (
    "INSERT INTO latency_day_quantiles AS q (plugin_id, bucket_start, i50, i95, i99) {select}"
    " ON CONFLICT (plugin_id, bucket_start) DO UPDATE SET i50 = excluded.i50,"
    " i95 = excluded.i95, i99 = excluded.i99"
)
DAY_PAIRS = _UPSERT.format(
    select=quantile_indexes(
        "SELECT b.plugin_id, b.bucket_start, b.sketch_index, b.count FROM latency_buckets b"
        " JOIN unnest($1::uuid[], $2::timestamptz[]) AS p(plugin_id, bucket_start)"
        " ON b.plugin_id = p.plugin_id AND b.bucket_start = p.bucket_start"
        " WHERE b.grain = 'day'",
        "plugin_id, bucket_start",
    )
)
DAY_RANGE = _UPSERT.format(
    select=quantile_indexes(
        "SELECT plugin_id, bucket_start, sketch_index, count FROM latency_buckets"
        " WHERE grain = 'day' AND bucket_start >= $1 AND bucket_start < $2",
        "plugin_id, bucket_start",
    )
)
