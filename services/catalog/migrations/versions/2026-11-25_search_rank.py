"""Marketplace search ranking: generated ``search_boost`` (static relevance) and ``head_vector``
(name + tags), the covering partial index walked in boost order, and a GIN on ``head_vector``.
See ADR 0007.

Revision ID: catalog_0003
Revises: catalog_0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# As in models.HEAD_VECTOR_SQL / SEARCH_BOOST_SQL at the time of this revision.
HEAD_VECTOR_SQL = (
    "setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, catalog_tags_text(tags)), 'B')"
)
SEARCH_BOOST_SQL = (
    "((0.20 * rating_bayesian / 5.0 + 0.15 * ln(1 + greatest(install_count, 0)) / ln(1000001.0))"
    " * (CASE WHEN verified THEN 1.0 ELSE 0.5 END)"
    " * (CASE WHEN deprecated THEN 0.5 ELSE 1.0 END))::float8"
)

revision: str = "catalog_0003"
down_revision: str | None = "catalog_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "plugins",
        sa.Column(
            "head_vector",
            postgresql.TSVECTOR(),
            sa.Computed(HEAD_VECTOR_SQL, persisted=True),
            nullable=True,
        ),
    )
    op.add_column(
        "plugins",
        sa.Column(
            "search_boost", sa.Float(), sa.Computed(SEARCH_BOOST_SQL, persisted=True), nullable=True
        ),
    )
    op.create_index(
        "ix_plugins_head_vector", "plugins", ["head_vector"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_plugins_search_rank",
        "plugins",
        [sa.literal_column("search_boost DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_include=[
            "search_vector",
            "category",
            "type",
            "is_free",
            "verified",
            "tags",
            "compat",
        ],
        postgresql_where=sa.text("banned_at IS NULL AND latest_version IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_plugins_search_rank", table_name="plugins")
    op.drop_index("ix_plugins_head_vector", table_name="plugins", postgresql_using="gin")
    op.drop_column("plugins", "search_boost")
    op.drop_column("plugins", "head_vector")
