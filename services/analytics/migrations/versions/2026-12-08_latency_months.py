"""Month latency sketches (latency_months), filled from the day sketches already kept

Revision ID: analytics_0003
Revises: analytics_0002
Create Date: 2026-12-08 01:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "analytics_0003"
down_revision: str | None = "analytics_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "latency_months",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("month_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sketch_index", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "plugin_id", "month_start", "sketch_index", name=op.f("pk_latency_months")
        ),
    )
    op.create_index(
        "ix_latency_months_month_start", "latency_months", ["month_start"], unique=False
    )
    # Every month row is the sum of its month's day rows. A month whose first days have aged
    # out already is filled with what is left; no kept range covers it whole, so no query reads
    # it, and the next retention round removes it.
    op.execute(
        "INSERT INTO latency_months (plugin_id, month_start, sketch_index, count)"
        " SELECT plugin_id, date_trunc('month', bucket_start, 'UTC'), sketch_index, sum(count)"
        " FROM latency_buckets WHERE grain = 'day'"
        " GROUP BY plugin_id, date_trunc('month', bucket_start, 'UTC'), sketch_index"
    )


def downgrade() -> None:
    op.drop_index("ix_latency_months_month_start", table_name="latency_months")
    op.drop_table("latency_months")
