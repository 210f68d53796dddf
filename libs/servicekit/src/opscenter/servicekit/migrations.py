"""Alembic helpers shared by every service's migrations.

Each service keeps its own Alembic history (`services/<name>/migrations`) and its own database;
`env.py` calls `run_migrations(target_metadata, settings)`. Past revisions run frozen DDL
(`migration_history`), never today's factories; `tests/migrations` compares each migrated
database with the models, so a change to a factory fails it until a new revision exists.
"""

from __future__ import annotations

import asyncio
from argparse import Namespace
from pathlib import Path

from alembic import context, op
from alembic.config import Config
from sqlalchemy import MetaData, Table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from opscenter.servicekit.outbox import notify_trigger_ddl
from opscenter.servicekit.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[5]


def alembic_config(service: str, url: str) -> Config:
    """The Alembic config of `services/<service>` pointed at the database `url`."""
    service_dir = REPO_ROOT / "services" / service
    config = Config(str(service_dir / "alembic.ini"), cmd_opts=Namespace(x=[f"url={url}"]))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    return config


def create_table_from(table: Table) -> None:
    """Creates `table` (columns, constraints, indexes) as the model declares it TODAY.

    Not for a revision that will outlive the declaration (every one): freeze its DDL as text
    instead (see `migration_history`), or a later change to the model rewrites history."""
    bind = op.get_bind()
    table.create(bind)


def create_outbox_notify_trigger(table_name: str = "outbox") -> None:
    """The outbox's NOTIFY trigger as servicekit declares it today (same caveat as above)."""
    for ddl in notify_trigger_ddl(table_name):
        op.execute(ddl)


def _run_sync(connection: Connection, target_metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str, target_metadata: MetaData) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync, target_metadata)
        await connection.commit()
    await engine.dispose()


def run_migrations(target_metadata: MetaData, settings: ServiceSettings) -> None:
    """Runs online migrations against `-x url=...` if given, else the service's database."""
    url = context.get_x_argument(as_dictionary=True).get("url") or settings.database_url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_async(url, target_metadata))
