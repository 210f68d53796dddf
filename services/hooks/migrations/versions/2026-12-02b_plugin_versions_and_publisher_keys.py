"""Hooks: plugin versions (package digest, signature) and publisher keys for handler packages;
each attempt's sandbox cause

Revision ID: hooks_0003
Revises: hooks_0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "hooks_0003"
down_revision: str | None = "hooks_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("delivery_attempts", sa.Column("cause", sa.String(length=16), nullable=True))
    op.create_table(
        "plugin_versions",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("publisher_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=True),
        sa.Column("signing_key_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("plugin_id", "version", name=op.f("pk_plugin_versions")),
    )
    op.create_table(
        "publisher_keys",
        sa.Column("publisher_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("publisher_id", "key_id", name=op.f("pk_publisher_keys")),
    )


def downgrade() -> None:
    op.drop_table("publisher_keys")
    op.drop_table("plugin_versions")
    op.drop_column("delivery_attempts", "cause")
