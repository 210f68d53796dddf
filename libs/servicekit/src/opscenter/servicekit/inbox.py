"""Inbox: which events each consumer has already applied.

`claim_many` runs in the same transaction as the consumer's effect: if the transaction commits, the
event is marked processed together with its effect; if it rolls back, neither happened. A second
delivery of the same event then finds the claim and does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, DateTime, MetaData, String, Table, func
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.servicekit.driver import driver

INBOX_TABLE = "inbox"


def inbox_table(metadata: MetaData, name: str = INBOX_TABLE) -> Table:
    return Table(
        name,
        metadata,
        Column("consumer", String(120), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class Inbox:
    def __init__(self, table: Table) -> None:
        self.table = table
        # Plain SQL on the unit of work's connection (ADR 0010): every consumer batch runs it.
        self._claim = (
            f"INSERT INTO {table.name} (consumer, event_id)"
            " SELECT $1, unnest($2::varchar[]) ON CONFLICT DO NOTHING RETURNING event_id"
        )

    async def claim_many(
        self, session: AsyncSession, event_ids: Sequence[str], consumer: str
    ) -> set[str]:
        """The subset of `event_ids` this consumer has not applied before, claimed in one
        statement (a batch costs one round trip, not one per event)."""
        if not event_ids:
            return set()
        rows = await (await driver(session)).fetch(self._claim, consumer, list(event_ids))
        return {r["event_id"] for r in rows}
