"""Changes of what a review list shows notify ``reviews_list``.

Triggers on ``reviews`` (rows, replies, votes, hiding), ``plugins`` (the summary, the slug, a ban)
and ``installations`` (whether a reviewer's tenant still has the plugin) run
``pg_notify('reviews_list', '')`` in the writing transaction, delivered at commit; every API
process listens and empties its list cache (ADR 0020, ``reviews/list_cache.py``).

Revision ID: reviews_0003
Revises: reviews_0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "reviews_0003"
down_revision: str | None = "reviews_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables the list's statement reads (``reviews.repository.page_sql``).
TABLES = ("reviews", "plugins", "installations")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION reviews_list_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- One payload for every change: Postgres folds them into one notification per
            -- transaction, sent when (and only if) it commits.
            PERFORM pg_notify('reviews_list', '');
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        # Once per statement: a batch of projection rows costs one call, not one per row.
        op.execute(
            f"CREATE TRIGGER {table}_list_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION reviews_list_notify()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_list_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS reviews_list_notify()")
