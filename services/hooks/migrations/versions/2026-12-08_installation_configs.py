"""Hooks installation configs: the projection of ``installer.installation.config_set`` events
(non-secret values in clear, secret ones as sealed to hooks), for handler contexts (ADR 0024)

Revision ID: hooks_0005
Revises: hooks_0004
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "hooks_0005"
down_revision: str | None = "hooks_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "installation_configs",
        sa.Column("installation_id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column(
            "config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("secrets", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_installation_configs")),
    )


def downgrade() -> None:
    op.drop_table("installation_configs")
