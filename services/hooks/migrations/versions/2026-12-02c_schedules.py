"""Hooks schedules: the projection of published manifests' schedules, and when each
subscription last became enabled (no tick before it is owed)

Revision ID: hooks_0003
Revises: hooks_0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "hooks_0004"
down_revision: str | None = "hooks_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("plugin_id", "version", "name", name=op.f("pk_schedules")),
    )
    op.add_column(
        "subscriptions", sa.Column("schedules_from", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("subscriptions", "schedules_from")
    op.drop_table("schedules")
