"""DDL that past migrations ran, frozen as literal text.

A migration is history: it must build what it built on the day it was written, whatever the
servicekit factories (``outbox_table``, ``inbox_table``, ``idempotency_table``,
``notify_trigger_ddl``) declare today. So the revisions that created the messaging tables run
these statements, not the factories. Never edit a constant here: a change to the tables is a
new migration in every service (with its own constant), and ``tests/migrations`` fails until it
exists, because it compares each migrated database with the models built from the factories.
"""

from __future__ import annotations

from alembic import op

#: The outbox, inbox and idempotency tables and the outbox's NOTIFY trigger, as every service's
#: first revision (``<service>_0001``, 2026-11-25) created them.
MESSAGING_TABLES_2026_11_25: tuple[str, ...] = (
    """
    CREATE TABLE outbox (
        id BIGINT GENERATED ALWAYS AS IDENTITY,
        event_id VARCHAR(64) NOT NULL,
        topic VARCHAR(249) NOT NULL,
        key VARCHAR(255) NOT NULL,
        bucket SMALLINT NOT NULL,
        value BYTEA NOT NULL,
        headers JSONB DEFAULT '{}'::jsonb NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
        published_at TIMESTAMP WITH TIME ZONE,
        CONSTRAINT pk_outbox PRIMARY KEY (id),
        CONSTRAINT uq_outbox_event_id UNIQUE (event_id)
    )
    """,
    "CREATE INDEX ix_outbox_unpublished ON outbox (bucket, id) WHERE published_at IS NULL",
    """
    CREATE TABLE inbox (
        consumer VARCHAR(120) NOT NULL,
        event_id VARCHAR(64) NOT NULL,
        processed_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
        CONSTRAINT pk_inbox PRIMARY KEY (consumer, event_id)
    )
    """,
    """
    CREATE TABLE idempotency_keys (
        scope VARCHAR(300) NOT NULL,
        key VARCHAR(255) NOT NULL,
        request_hash VARCHAR(64) NOT NULL,
        status_code INTEGER,
        response JSONB,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
        CONSTRAINT pk_idempotency_keys PRIMARY KEY (scope, key)
    )
    """,
    """
    CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger AS $$
    BEGIN
        PERFORM pg_notify('outbox_inserted', '');
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()
    """,
)

#: What undoes ``MESSAGING_TABLES_2026_11_25``.
DROP_MESSAGING_TABLES_2026_11_25: tuple[str, ...] = (
    "DROP TRIGGER IF EXISTS outbox_notify ON outbox",
    "DROP FUNCTION IF EXISTS outbox_notify()",
    "DROP TABLE idempotency_keys",
    "DROP TABLE inbox",
    "DROP TABLE outbox",
)


def run(statements: tuple[str, ...]) -> None:
    """Runs frozen statements in the current migration's transaction, in order."""
    for statement in statements:
        op.execute(statement)
