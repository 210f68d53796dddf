"""Reviews tables: the plugin and installation projections (with each plugin's rating
summary), reviews with their developer reply, helpful votes, the moderation log, and the
per-user write allowance of the rate limit.

Revision ID: reviews_0002
Revises: reviews_0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reviews_0002"
down_revision: str | None = "reviews_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "installations",
        sa.Column("installation_id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=False),
        sa.Column("installed", sa.Boolean(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_installations")),
    )
    op.create_index(
        "ix_installations_tenant_plugin", "installations", ["tenant_id", "plugin_id"], unique=False
    )
    op.create_table(
        "moderation_log",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("review_id", sa.UUID(), nullable=False),
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_log")),
    )
    op.create_index(
        "ix_moderation_log_review", "moderation_log", ["review_id", "created_at"], unique=False
    )
    op.create_table(
        "plugins",
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("publisher_id", sa.String(length=128), nullable=False),
        sa.Column("banned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ban_reason", sa.Text(), nullable=True),
        sa.Column("rating_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rating_sum", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rating_1", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rating_2", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rating_3", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rating_4", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rating_5", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("plugin_id", name=op.f("pk_plugins")),
        sa.UniqueConstraint("slug", name=op.f("uq_plugins_slug")),
    )
    op.create_table(
        "write_allowances",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("writes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_write_allowances")),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=False),
        sa.Column("helpful_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("hidden", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.Column("reply_body", sa.Text(), nullable=True),
        sa.Column("reply_author_id", sa.String(length=128), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["plugin_id"], ["plugins.plugin_id"], name=op.f("fk_reviews_plugin_id_plugins")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("plugin_id", "user_id", name=op.f("uq_reviews_plugin_id")),
    )
    op.create_index(
        "ix_reviews_helpful",
        "reviews",
        [
            "plugin_id",
            sa.literal_column("helpful_count DESC"),
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_reviews_newest",
        "reviews",
        ["plugin_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_reviews_highest",
        "reviews",
        [
            "plugin_id",
            sa.literal_column("rating DESC"),
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_reviews_lowest",
        "reviews",
        ["plugin_id", "rating", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_table(
        "helpful_votes",
        sa.Column("review_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_helpful_votes_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_id", "user_id", name=op.f("pk_helpful_votes")),
    )


def downgrade() -> None:
    op.drop_table("helpful_votes")
    op.drop_index("ix_reviews_lowest", table_name="reviews")
    op.drop_index("ix_reviews_highest", table_name="reviews")
    op.drop_index("ix_reviews_newest", table_name="reviews")
    op.drop_index("ix_reviews_helpful", table_name="reviews")
    op.drop_table("reviews")
    op.drop_table("write_allowances")
    op.drop_table("plugins")
    op.drop_index("ix_moderation_log_review", table_name="moderation_log")
    op.drop_table("moderation_log")
    op.drop_index("ix_installations_tenant_plugin", table_name="installations")
    op.drop_table("installations")
