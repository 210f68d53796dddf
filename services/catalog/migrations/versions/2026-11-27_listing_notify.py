"""Listing changes notify, and the featured list has an index.

A trigger on ``plugins`` runs ``pg_notify('catalog_listing', '')`` in
the writing transaction (delivered at commit) unless only the counters changed. Every API process
listens and empties its marketplace caches (ADR 0008, ``marketplace/invalidation.py``).

Revision ID: catalog_0004
Revises: catalog_0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "catalog_0004"
down_revision: str | None = "catalog_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in marketplace.invalidation.COUNTER_COLUMNS at the time of this revision: an update that
# changes only these (ratings, installs, downloads from projections) only reorders listings.
COUNTERS = (
    "ARRAY['rating_average', 'rating_count', 'rating_bayesian', 'rating_histogram', "
    "'install_count', 'download_count', 'search_boost', 'updated_at']"
)


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION catalog_listing_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE'
               AND (to_jsonb(OLD) - {COUNTERS}) = (to_jsonb(NEW) - {COUNTERS}) THEN
                RETURN NULL;
            END IF;
            -- One payload for every change: Postgres folds them into one notification per
            -- transaction, sent when (and only if) it commits.
            PERFORM pg_notify('catalog_listing', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER plugins_listing_notify AFTER INSERT OR UPDATE OR DELETE ON plugins "
        "FOR EACH ROW EXECUTE FUNCTION catalog_listing_notify()"
    )
    op.execute(
        "CREATE TRIGGER plugins_listing_notify_truncate AFTER TRUNCATE ON plugins "
        "FOR EACH STATEMENT EXECUTE FUNCTION catalog_listing_notify()"
    )

    # ``/marketplace/featured`` scanned every plugin (~26 ms at 50k) for a handful of rows.
    op.create_index(
        "ix_plugins_featured_rank",
        "plugins",
        ["featured_rank", "id"],
        unique=False,
        postgresql_where=sa.text("featured_rank IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_plugins_featured_rank", table_name="plugins")
    op.execute("DROP TRIGGER IF EXISTS plugins_listing_notify_truncate ON plugins")
    op.execute("DROP TRIGGER IF EXISTS plugins_listing_notify ON plugins")
    op.execute("DROP FUNCTION IF EXISTS catalog_listing_notify()")
