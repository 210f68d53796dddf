"""Metric tables: counters, latency sketches, revenue, ratings, plugin directory, roll-up state

Revision ID: analytics_0002
Revises: analytics_0001
Create Date: 2026-12-02 13:10:03.238902+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "analytics_0002"
down_revision: str | None = "analytics_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "installation_states",
        sa.Column("installation_id", sa.UUID(), nullable=False),
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_installation_states")),
    )
    op.create_table(
        "latency_buckets",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("grain", sa.String(length=4), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sketch_index", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("grain IN ('hour', 'day')", name=op.f("ck_latency_buckets_grain")),
        sa.PrimaryKeyConstraint(
            "plugin_id", "grain", "bucket_start", "sketch_index", name=op.f("pk_latency_buckets")
        ),
    )
    op.create_index(
        "ix_latency_buckets_grain_bucket_start",
        "latency_buckets",
        ["grain", "bucket_start"],
        unique=False,
    )
    op.create_table(
        "latency_day_quantiles",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("i50", sa.Integer(), nullable=False),
        sa.Column("i95", sa.Integer(), nullable=False),
        sa.Column("i99", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("plugin_id", "bucket_start", name=op.f("pk_latency_day_quantiles")),
    )
    op.create_table(
        "metric_counts",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("grain", sa.String(length=4), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=False),
        sa.Column("installs", sa.BigInteger(), nullable=False),
        sa.Column("uninstalls", sa.BigInteger(), nullable=False),
        sa.Column("enables", sa.BigInteger(), nullable=False),
        sa.Column("disables", sa.BigInteger(), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.Column("deliveries", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("dead_letters", sa.BigInteger(), nullable=False),
        sa.Column("active_delta", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("grain IN ('hour', 'day')", name=op.f("ck_metric_counts_grain")),
        sa.PrimaryKeyConstraint(
            "plugin_id", "grain", "bucket_start", "version", name=op.f("pk_metric_counts")
        ),
    )
    op.create_index(
        "ix_metric_counts_grain_bucket_start",
        "metric_counts",
        ["grain", "bucket_start"],
        unique=False,
    )
    op.create_table(
        "plugin_directory",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("publisher_id", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("plugin_id", name=op.f("pk_plugin_directory")),
    )
    op.create_index(
        "ix_plugin_directory_publisher_id", "plugin_directory", ["publisher_id"], unique=False
    )
    op.create_index("ix_plugin_directory_slug", "plugin_directory", ["slug"], unique=False)
    op.create_table(
        "ratings",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("grain", sa.String(length=4), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("average", sa.Double(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("grain IN ('hour', 'day')", name=op.f("ck_ratings_grain")),
        sa.PrimaryKeyConstraint("plugin_id", "grain", "bucket_start", name=op.f("pk_ratings")),
    )
    op.create_index("ix_ratings_plugin_id_as_of", "ratings", ["plugin_id", "as_of"], unique=False)
    op.create_table(
        "revenue",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("grain", sa.String(length=4), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gross", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("developer", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("platform", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("charges", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("grain IN ('hour', 'day')", name=op.f("ck_revenue_grain")),
        sa.CheckConstraint("developer + platform = gross", name=op.f("ck_revenue_split_adds_up")),
        sa.PrimaryKeyConstraint(
            "plugin_id", "grain", "bucket_start", "currency", name=op.f("pk_revenue")
        ),
    )
    op.create_index(
        "ix_revenue_grain_bucket_start", "revenue", ["grain", "bucket_start"], unique=False
    )
    op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rolled_through", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retention_ran_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_rollup_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_state")),
    )
    # Nothing is rolled up yet: day queries read hour rows until the first roll-up.
    op.execute("INSERT INTO rollup_state (id, rolled_through) VALUES (1, '1970-01-01T00:00:00Z')")


def downgrade() -> None:
    op.drop_table("rollup_state")
    op.drop_index("ix_revenue_grain_bucket_start", table_name="revenue")
    op.drop_table("revenue")
    op.drop_index("ix_ratings_plugin_id_as_of", table_name="ratings")
    op.drop_table("ratings")
    op.drop_index("ix_plugin_directory_slug", table_name="plugin_directory")
    op.drop_index("ix_plugin_directory_publisher_id", table_name="plugin_directory")
    op.drop_table("plugin_directory")
    op.drop_index("ix_metric_counts_grain_bucket_start", table_name="metric_counts")
    op.drop_table("metric_counts")
    op.drop_index("ix_latency_buckets_grain_bucket_start", table_name="latency_buckets")
    op.drop_table("latency_buckets")
    op.drop_table("latency_day_quantiles")
    op.drop_table("installation_states")
