"""Inbox: which events each consumer has already applied.

`claim` runs in the same transaction as the consumer's effect: if the transaction commits, the
event is marked processed together with its effect; if it rolls back, neither happened. A second
delivery of the same event then finds the claim and does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, DateTime, MetaData, String, Table, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

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

    async def claim(self, session: AsyncSession, event_id: str, consumer: str) -> bool:
        """True when this consumer has not applied the event before (and now owns it)."""
        result = await session.execute(
            insert(self.table)
            .values(consumer=consumer, event_id=event_id)
            .on_conflict_do_nothing()
            .returning(self.table.c.event_id)
        )
        return result.first() is not None

    async def claim_many(
        self, session: AsyncSession, event_ids: Sequence[str], consumer: str
    ) -> set[str]:
        """The subset of `event_ids` this consumer has not applied before, claimed in one
        statement (a batch costs one round trip, not one per event)."""
        if not event_ids:
            return set()
        # The ids travel as one array parameter: a multi-row VALUES costs the ORM layer more
        # than the database (each value is coerced on its own).
        ids = select(literal(consumer), func.unnest(bindparam("ids", type_=ARRAY(String(64)))))
        result = await session.execute(
            insert(self.table)
            .from_select(["consumer", "event_id"], ids)
            .on_conflict_do_nothing()
            .returning(self.table.c.event_id),
            {"ids": list(event_ids)},
        )
        return set(result.scalars())
