"""SQLAlchemy's private attributes that ``servicekit.sqlalchemy_private`` relies on, each used
on a real connection: an upgrade of SQLAlchemy that renames or changes one fails here."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import String, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from opscenter.servicekit.db import create_engine, create_session_factory
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.sqlalchemy_private import (
    bare_instance,
    opened_connection,
    run_in_greenlet,
)
from opscenter.servicekit.testing import LocalStack, create_database, drop_database

pytestmark = pytest.mark.integration


class Base(DeclarativeBase):
    pass


class Thing(Base):
    __tablename__ = "things"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))

    def __init__(self, **values: object) -> None:
        raise AssertionError("bare_instance must not call __init__")


@pytest.fixture
async def sessions(local_stack: LocalStack):
    url = await create_database(local_stack, "private")
    engine = create_engine(ServiceSettings(database_url=url, db_pool_size=1))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()
        await drop_database(local_stack, url)


async def test_the_adapter_opens_its_transaction_for_a_statement_sent_past_it(sessions):
    async with sessions() as session:
        adapted = (await (await session.connection()).get_raw_connection()).dbapi_connection
        assert adapted._started is False  # no statement yet: the adapter has not sent BEGIN
        conn = await opened_connection(adapted)
        assert isinstance(conn, asyncpg.Connection)
        assert adapted._started is True
        assert conn.is_in_transaction()
        insert = "INSERT INTO things (id, name) VALUES ($1, 'rolled back')"
        await conn.execute(insert, uuid.uuid4())
        await session.rollback()
        assert (await session.execute(select(Thing.name))).scalars().all() == []


async def test_a_session_hook_runs_a_statement_in_the_session_s_transaction(sessions):
    ran: list[str] = []

    def before_commit(session: Session) -> None:
        adapted = session.connection().connection.dbapi_connection

        async def insert(_: asyncpg.Connection) -> None:
            conn = await opened_connection(adapted)
            await conn.execute("INSERT INTO things (id, name) VALUES ($1, 'hook')", uuid.uuid4())
            ran.append("insert")

        run_in_greenlet(adapted, insert)

    async with sessions() as session:
        event.listen(session.sync_session, "before_commit", before_commit)
        await session.execute(select(Thing.id))
        await session.commit()
    assert ran == ["insert"]
    async with sessions() as session:
        assert (await session.execute(select(Thing.name))).scalars().all() == ["hook"]


def test_a_bare_instance_is_built_without_init_and_carries_orm_state():
    thing = bare_instance(Thing)
    assert type(thing) is Thing
    thing.__dict__.update(id=uuid.uuid4(), name="bare")
    assert thing.name == "bare"  # the instrumented attribute reads the instance's dict
    assert Thing.__mapper__.primary_key_from_instance(thing) == (thing.id,)
