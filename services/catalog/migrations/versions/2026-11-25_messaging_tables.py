"""Outbox, inbox and idempotency tables (servicekit's shapes, at the time of this revision)

Revision ID: catalog_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from opscenter.servicekit.db import NAMING_CONVENTION
from opscenter.servicekit.idempotency import idempotency_table
from opscenter.servicekit.inbox import inbox_table
from opscenter.servicekit.migrations import create_outbox_notify_trigger, create_table_from
from opscenter.servicekit.outbox import outbox_table

revision: str = "catalog_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    for table in (outbox_table(metadata), inbox_table(metadata), idempotency_table(metadata)):
        create_table_from(table)
    create_outbox_notify_trigger()


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify()")
    for name in ("idempotency_keys", "inbox", "outbox"):
        op.drop_table(name)
