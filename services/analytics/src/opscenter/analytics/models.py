"""The analytics service's tables, and only the analytics service's.

Every metric table has a ``grain`` column: ``hour`` rows are written by the consumer, ``day``
rows by the roll-up (and by the consumer for an hour the roll-up has already passed). A day
query reads ``day`` rows before the roll-up watermark and ``hour`` rows from it on, so no event
is counted twice or missed (ADR 0013).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import UUID

from opscenter.servicekit.db import NAMING_CONVENTION
from opscenter.servicekit.idempotency import idempotency_table
from opscenter.servicekit.inbox import inbox_table
from opscenter.servicekit.outbox import outbox_table

metadata = MetaData(naming_convention=NAMING_CONVENTION)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
idempotency_keys = idempotency_table(metadata)

#: Counter columns of ``metric_counts``, in the order the consumer and the queries use.
COUNTER_COLUMNS = (
    "installs",
    "uninstalls",
    "enables",
    "disables",
    "downloads",
    "deliveries",
    "failures",
    "dead_letters",
    "active_delta",
)

GRAIN_CHECK = "grain IN ('hour', 'day')"

#: Which plugin a slug names and who publishes it, from the catalog's events (any event that
#: names a plugin and its slug adds the slug; the publisher comes from registration/publication).
plugin_directory = Table(
    "plugin_directory",
    metadata,
    Column("plugin_id", UUID(as_uuid=True), primary_key=True),
    Column("slug", String(64), nullable=False),
    Column("publisher_id", String(120), nullable=True),
    Index("ix_plugin_directory_slug", "slug"),
    Index("ix_plugin_directory_publisher_id", "publisher_id"),
)

#: Whether each installation currently counts as installed, and the newest transition applied:
#: an older or repeated transition cannot move ``active_installs``.
installation_states = Table(
    "installation_states",
    metadata,
    Column("installation_id", UUID(as_uuid=True), primary_key=True),
    Column("plugin_id", UUID(as_uuid=True), nullable=False),
    Column("version", String(256), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("sequence", Integer, nullable=False),
)

#: Counters per plugin, version (``''`` for metrics no version owns) and bucket.
#: ``active_delta`` is installed minus uninstalled; ``active_installs`` is its running sum.
metric_counts = Table(
    "metric_counts",
    metadata,
    Column("plugin_id", UUID(as_uuid=True), primary_key=True),
    Column("grain", String(4), primary_key=True),
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("version", String(256), primary_key=True),
    *(Column(name, BigInteger, nullable=False) for name in COUNTER_COLUMNS),
    CheckConstraint(GRAIN_CHECK, name="grain"),
    Index("ix_metric_counts_grain_bucket_start", "grain", "bucket_start"),
)

#: Hook latencies as a mergeable log-bucket sketch (``sketch.py``): how many attempts fell in
#: each bucket. Summing counts per ``sketch_index`` merges any set of rows exactly. Whatever
#: adds to a ``day`` row adds the same to its month's ``latency_months`` row (ADR 0025).
latency_buckets = Table(
    "latency_buckets",
    metadata,
    Column("plugin_id", UUID(as_uuid=True), primary_key=True),
    Column("grain", String(4), primary_key=True),
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("sketch_index", Integer, primary_key=True),
    Column("count", BigInteger, nullable=False),
    CheckConstraint(GRAIN_CHECK, name="grain"),
    Index("ix_latency_buckets_grain_bucket_start", "grain", "bucket_start"),
)

#: Each month's latency sketch: the sum of that month's ``day`` rows of ``latency_buckets``, kept
#: by the statements that write day rows (the roll-up, late ingest), so a year's merged sketch
#: is ~12 month sketches plus the days of the range's partial months, not 365 day sketches.
#: A month row counts only while every day of its month is kept: retention drops it when its
#: first day ages out (no kept range can then cover the whole month, so no query reads it).
latency_months = Table(
    "latency_months",
    metadata,
    Column("plugin_id", UUID(as_uuid=True), primary_key=True),
    Column("month_start", DateTime(timezone=True), primary_key=True),
    Column("sketch_index", Integer, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Index("ix_latency_months_month_start", "month_start"),
)

#: Each rolled-up day's p50/p95/p99 as sketch indexes, kept beside its day sketch (written by
#: the roll-up, rewritten when a late event changes that day), so a year's daily percentiles
#: are 365 rows, not the year's sketch rows.
latency_day_quantiles = Table(
    "latency_day_quantiles",
    metadata,
    Column("plugin_id", UUID(as_uuid=True), primary_key=True),
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("i50", Integer, nullable=False),
    Column("i95", Integer, nullable=False),
    Column("i99", Integer, nullable=False),
)

#: Money charged per plugin, bucket and currency, exact (numeric): ``developer + platform``
#: equals ``gross`` in every row because it does in every event added to it.
revenue = Table(
    "revenue",
    metadata,
    Column("plugin_id", UUID(as_uuid=True), primary_key=True),
    Column("grain", String(4), primary_key=True),
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("gross", Numeric(20, 2), nullable=False),
    Column("developer", Numeric(20, 2), nullable=False),
    Column("platform", Numeric(20, 2), nullable=False),
    Column("charges", BigInteger, nullable=False),
    CheckConstraint(GRAIN_CHECK, name="grain"),
    CheckConstraint("developer + platform = gross", name="split_adds_up"),
    Index("ix_revenue_grain_bucket_start", "grain", "bucket_start"),
)

#: The plugin's rating summary as it stood at the end of each bucket (the newest ``as_of``).
ratings = Table(
    "ratings",
    metadata,
    Column("plugin_id", UUID(as_uuid=True), primary_key=True),
    Column("grain", String(4), primary_key=True),
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("average", Double, nullable=False),
    Column("count", Integer, nullable=False),
    CheckConstraint(GRAIN_CHECK, name="grain"),
    Index("ix_ratings_plugin_id_as_of", "plugin_id", "as_of"),
)

#: One row: hours before ``rolled_through`` are in ``day`` rows. Only the roll-up moves it,
#: holding the row's lock; ingest reads it under a shared advisory lock (ADR 0013).
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rolled_through", DateTime(timezone=True), nullable=False),
    Column("retention_ran_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("id = 1", name="single_row"),
)
