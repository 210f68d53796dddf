"""A signing key belongs to one publisher.

The fingerprint was unique per publisher only, so a publisher could register another's public key
and republish that publisher's signed package as its own, and it verified. The fingerprint is now
unique across publishers. A database holding one key under two publishers keeps the older
registration; the later ones (which could only have been copies) are deleted first.

Revision ID: catalog_0005
Revises: catalog_0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "catalog_0005"
down_revision: str | None = "catalog_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM publisher_keys k USING publisher_keys older "
        "WHERE k.fingerprint = older.fingerprint AND k.publisher_id <> older.publisher_id "
        "AND (older.created_at, older.id) < (k.created_at, k.id) "
        "AND NOT EXISTS (SELECT 1 FROM plugin_versions v WHERE v.signing_key_id = k.id)"
    )
    op.drop_constraint("uq_publisher_keys_fingerprint", "publisher_keys", type_="unique")
    op.create_unique_constraint("uq_publisher_keys_fingerprint", "publisher_keys", ["fingerprint"])


def downgrade() -> None:
    op.drop_constraint("uq_publisher_keys_fingerprint", "publisher_keys", type_="unique")
    op.create_unique_constraint(
        "uq_publisher_keys_fingerprint", "publisher_keys", ["publisher_id", "fingerprint"]
    )
