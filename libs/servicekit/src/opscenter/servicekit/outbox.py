"""Transactional outbox: an event is stored in the same transaction as the change it describes.

Invariants:
- A domain write and its outbox row commit together or not at all (`Outbox.add` only adds to the
  caller's session; the unit of work commits).
- Rows of one partition key are published in id order. Ids come from a sequence at insert time, so
  this holds as long as writers take the aggregate's row lock before adding its event (two writers
  of one aggregate then commit in the order they drew ids).
- Keys hash into `OUTBOX_BUCKETS` buckets; the relay (see `relay.py`) publishes a bucket only while
  it holds that bucket's advisory lock, so two relays never publish one row at the same time.
- Events added to a session are written in the order they were added: by a hot path's
  `write_rows` with its own rows (`take_pending`), else when the session commits (a
  `before_commit` hook, one statement); a rollback discards them. Their ids are therefore
  drawn after the row locks the transaction took before adding them. Savepoints are not
  supported: an event added inside a rolled-back savepoint would still be written.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from contextvars import ContextVar

from opentelemetry import propagate
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    func,
    text,
)
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from opscenter.contracts import CloudEvent, EventPayload, new_event
from opscenter.servicekit.driver import TableRows, execute_from_hook, write_statement

OUTBOX_BUCKETS = 32
OUTBOX_TABLE = "outbox"
_PENDING = "opscenter.outbox.pending"


def bucket_of(key: str) -> int:
    """Stable across processes and languages (crc32), unlike Python's salted hash()."""
    return zlib.crc32(key.encode()) % OUTBOX_BUCKETS


def outbox_table(metadata: MetaData, name: str = OUTBOX_TABLE) -> Table:
    """The outbox table for a service's metadata; its migration creates the same with
    `create_outbox_table` so autogenerate sees no drift."""
    return Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(249), nullable=False),
        Column("key", String(255), nullable=False),
        Column("bucket", SmallInteger, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index(
            f"ix_{name}_unpublished",
            "bucket",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
    )


def notify_channel(table_name: str = OUTBOX_TABLE) -> str:
    return f"{table_name}_inserted"


def notify_trigger_ddl(table_name: str = OUTBOX_TABLE) -> list[str]:
    """A statement-level trigger that wakes relays as soon as rows commit (NOTIFY is delivered
    at commit), so an idle relay need not poll quickly."""
    channel = notify_channel(table_name)
    return [
        f"""
        CREATE OR REPLACE FUNCTION {table_name}_notify() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{channel}', '');
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """,
        f"DROP TRIGGER IF EXISTS {table_name}_notify ON {table_name}",
        f"""
        CREATE TRIGGER {table_name}_notify AFTER INSERT ON {table_name}
        FOR EACH STATEMENT EXECUTE FUNCTION {table_name}_notify()
        """,
    ]


#: While a consumer's batch handler runs: the traceparent of the span that processes each event
#: of the batch, by the event's Kafka key (set by `consumer.py`). An event added for the same
#: key (the same aggregate) continues that event's trace, not the batch's.
BATCH_TRACES: ContextVar[Mapping[str, str] | None] = ContextVar(
    "opscenter_outbox_batch_traces", default=None
)


def current_traceparent(key: str | None = None) -> str | None:
    """The trace an event for partition key ``key`` continues: that of the batch event with
    the same key, else the current span's."""
    batch = BATCH_TRACES.get()
    if batch and key is not None and key in batch:
        return batch[key]
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


class Outbox:
    """Adds events to the caller's transaction. Never commits and never talks to Kafka."""

    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    async def add(
        self,
        session: AsyncSession,
        payload: EventPayload,
        *,
        tenant_id: str | None = None,
        subject: str | None = None,
    ) -> CloudEvent:
        key = payload.partition_key()
        event = new_event(
            payload,
            source=self.source,
            tenant_id=tenant_id,
            subject=subject,
            traceparent=current_traceparent(key),
        )
        await self.add_event(session, event, topic=payload.topic.name, key=key)
        return event

    async def add_event(
        self,
        session: AsyncSession,
        event: CloudEvent,
        *,
        topic: str,
        key: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        headers = {
            "ce_id": event.id,
            "ce_type": event.type,
            "ce_source": event.source,
            "content-type": "application/cloudevents+json",
        }
        if event.traceparent:
            headers["traceparent"] = event.traceparent
        if extra_headers:
            headers.update(extra_headers)
        row = {
            "event_id": event.id,
            "topic": topic,
            "key": key,
            "bucket": bucket_of(key),
            "value": event.to_json_bytes(),
            "headers": headers,
        }
        session.sync_session.info.setdefault(_PENDING, []).append((self.table, row))


def take_pending(session: AsyncSession | Session) -> TableRows:
    """The events added to ``session``'s transaction and not written yet, per outbox table in
    the order they were added. Whoever takes them writes them in that transaction: a hot path
    passes them to ``write_rows`` with its own rows (one statement, ADR 0010), and the
    ``before_commit`` hook writes what is left."""
    info = session.sync_session.info if isinstance(session, AsyncSession) else session.info
    pending: list[tuple[Table, dict[str, object]]] = info.pop(_PENDING, [])
    by_table: dict[Table, list[dict[str, object]]] = {}
    for table, row in pending:
        by_table.setdefault(table, []).append(row)
    return by_table


@sa_event.listens_for(Session, "before_commit")
def _write_pending_events(session: Session) -> None:
    built = write_statement(table_rows=take_pending(session))
    if built is not None:
        execute_from_hook(session, built[0], *built[1])


@sa_event.listens_for(Session, "after_rollback")
def _discard_pending_events(session: Session) -> None:
    session.info.pop(_PENDING, None)
