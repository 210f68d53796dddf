"""Outbox, inbox and idempotency tables (frozen DDL: servicekit's shapes on 2026-11-25)

Revision ID: analytics_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from opscenter.servicekit.migration_history import (
    DROP_MESSAGING_TABLES_2026_11_25,
    MESSAGING_TABLES_2026_11_25,
    run,
)

revision: str = "analytics_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    run(MESSAGING_TABLES_2026_11_25)


def downgrade() -> None:
    run(DROP_MESSAGING_TABLES_2026_11_25)
