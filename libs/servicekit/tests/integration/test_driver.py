"""Plain SQL on a unit of work's connection: same transaction, ORM-equivalent rows."""

# ruff: noqa: S608 - the SQL interpolates column lists from the test models.

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, String, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from opscenter.contracts import CloudEvent
from opscenter.servicekit.db import create_engine, create_session_factory
from opscenter.servicekit.driver import (
    DriverRowError,
    DriverRows,
    SnapshotIsReadOnly,
    UnwrittenChanges,
    column_list,
    driver,
    new_row,
    rows_for_update,
    select_from,
    snapshot,
    snapshots,
    write_rows,
)
from opscenter.servicekit.outbox import Outbox, outbox_table, take_pending
from opscenter.servicekit.settings import ServiceSettings
from opscenter.servicekit.testing import LocalStack, create_database, drop_database

pytestmark = pytest.mark.integration


class Base(DriverRows, DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(40))
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    note: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


OUTBOX = outbox_table(Base.metadata)


class Child(Base):
    __tablename__ = "children"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    parent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parents.id"))
    label: Mapped[str] = mapped_column(String(40))


@pytest.fixture
async def sessions(local_stack: LocalStack):
    url = await create_database(local_stack, "driver")
    engine = create_engine(ServiceSettings(database_url=url, db_pool_size=2))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()
        await drop_database(local_stack, url)


async def test_plain_statements_commit_and_roll_back_with_the_session(sessions):
    async with sessions() as session, session.begin():
        await (await driver(session)).execute(
            "INSERT INTO parents (id, name, attrs) VALUES ($1, 'kept', '{}')", uuid.uuid4()
        )
    async with sessions() as session, session.begin():
        conn = await driver(session)
        await conn.execute(
            "INSERT INTO parents (id, name, attrs) VALUES ($1, 'lost', '{}')", uuid.uuid4()
        )
        # The ORM sees the plain statement's row: one transaction.
        names = (await session.execute(select(Parent.name))).scalars().all()
        assert sorted(names) == ["kept", "lost"]
        await session.rollback()
    async with sessions() as session:
        assert (await session.execute(select(Parent.name))).scalars().all() == ["kept"]


async def test_a_plain_statement_first_in_the_transaction_opens_it(sessions):
    async with sessions() as session, session.begin():
        conn = await driver(session)
        assert conn.is_in_transaction()
        await conn.execute(
            "INSERT INTO parents (id, name, attrs) VALUES ($1, 'first', '{}')", uuid.uuid4()
        )
        await session.rollback()
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Parent))).scalar() == 0


async def test_each_transaction_of_one_session_gets_its_own_open_connection(sessions):
    insert = "INSERT INTO parents (id, name, attrs) VALUES ($1, $2, '{}')"
    async with sessions() as session:
        async with session.begin():
            await (await driver(session)).execute(insert, uuid.uuid4(), "first")
        async with session.begin():
            conn = await driver(session)
            assert conn.is_in_transaction()
            await conn.execute(insert, uuid.uuid4(), "second")
            await session.rollback()
        assert (await session.execute(select(Parent.name))).scalars().all() == ["first"]


async def test_inserted_rows_read_back_as_the_orm_wrote_them(sessions):
    parent = Parent(name="p", note=None)
    async with sessions() as session, session.begin():
        await write_rows(session, [parent])  # applies the id's default
        children = [Child(parent_id=parent.id, label=f"c{i}") for i in range(3)]
        await write_rows(session, children)
    # Python-side defaults were applied and set on the object; server defaults filled the rest.
    assert isinstance(parent.id, uuid.UUID)
    assert parent.attrs == {}
    async with sessions() as session:
        row = (await session.execute(select(Parent))).scalar_one()
        assert (row.id, row.name, row.attrs, row.note) == (parent.id, "p", {}, None)
        assert row.created_at.tzinfo is not None
        labels = (await session.execute(select(Child.label).order_by(Child.id))).scalars().all()
        assert labels == ["c0", "c1", "c2"]
        is_null = await session.execute(text("SELECT note IS NULL FROM parents"))
        assert is_null.scalar() is True  # None is SQL NULL, not JSON null

        conn = await driver(session)
        record = await conn.fetchrow(
            f"SELECT {column_list(Parent, 'p', 'x_')} FROM parents p WHERE p.id = $1", parent.id
        )
        copy = snapshot(Parent, record, "x_")
        assert (copy.id, copy.name, copy.attrs, copy.note) == (parent.id, "p", {}, None)
        assert copy.created_at == row.created_at
        assert copy not in session  # a snapshot is never the session's


async def test_new_rows_are_written_like_orm_objects_and_stay_out_of_the_session(sessions):
    async with sessions() as session, session.begin():
        parent = new_row(Parent, id=uuid.uuid4(), name="plain")
        assert parent.note is None  # not given: None, like a constructed object
        await write_rows(session, [parent, new_row(Child, parent_id=parent.id, label="c")])
        assert parent not in session
    assert parent.attrs == {}  # its Python-side default was applied
    async with sessions() as session:
        row = (await session.execute(select(Parent))).scalar_one()
        assert (row.id, row.name, row.attrs, row.note) == (parent.id, "plain", {}, None)
        assert (await session.execute(select(Child.label))).scalars().all() == ["c"]


async def test_rows_of_several_tables_go_in_one_statement_with_their_foreign_keys(sessions):
    parent = Parent(id=uuid.uuid4(), name="one")
    rows = [parent, *(Child(parent_id=parent.id, label=f"c{i}") for i in range(2))]
    async with sessions() as session, session.begin():
        await write_rows(session, rows)
    orphan = Child(parent_id=uuid.uuid4(), label="orphan")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with sessions() as session, session.begin():
            await write_rows(session, [Parent(name="two"), orphan])
    async with sessions() as session:
        assert (await session.execute(select(Parent.name))).scalars().all() == ["one"]
        labels = (await session.execute(select(Child.label).order_by(Child.id))).scalars().all()
        assert labels == ["c0", "c1"]


_PARENT_FOR_UPDATE = select_from(Parent, "p") + " WHERE p.id = $1 FOR UPDATE"


async def test_changed_rows_for_update_are_written_back_whole_with_new_rows(sessions):
    kept, changed = Parent(name="kept", attrs={"v": 1}), Parent(name="old", attrs={"v": 1})
    async with sessions() as session, session.begin():
        await write_rows(session, [kept, changed])
    async with sessions() as session, session.begin():
        [row] = await rows_for_update(session, Parent, _PARENT_FOR_UPDATE, changed.id)
        row.name, row.attrs, row.note = "new", {"v": 2}, {"why": "test"}
        await write_rows(session, new=[Child(parent_id=row.id, label="c")], changed=[row])
    async with sessions() as session:
        rows = (await session.execute(select(Parent).order_by(Parent.name))).scalars().all()
        assert [(p.name, p.attrs, p.note) for p in rows] == [
            ("kept", {"v": 1}, None),
            ("new", {"v": 2}, {"why": "test"}),
        ]
        assert rows[1].created_at == row.created_at
        assert (await session.execute(select(Child.parent_id))).scalars().all() == [row.id]


async def test_json_values_round_trip(sessions):
    parent = Parent(name="j", attrs={"a": [1, "two", None], "nested": {"k": True}})
    async with sessions() as session, session.begin():
        await write_rows(session, [parent])
    async with sessions() as session:
        record = await (await driver(session)).fetchrow(
            f"SELECT {column_list(Parent, 'p')} FROM parents p"
        )
        assert snapshot(Parent, record).attrs == {"a": [1, "two", None], "nested": {"k": True}}
        assert (await session.execute(select(Parent.attrs))).scalar() == parent.attrs


async def test_events_taken_by_write_rows_go_with_the_rows_in_the_order_added(sessions):
    outbox = Outbox(OUTBOX, source="/tests/driver")

    async def add(session, key: str) -> None:
        event = CloudEvent(source="/tests/driver", type="test.parent.changed", data={"k": key})
        await outbox.add_event(session, event, topic="test.parents", key=key)

    parent = Parent(name="with-events")
    async with sessions() as session, session.begin():
        for key in ("e1", "e2", "e3"):
            await add(session, key)
        await write_rows(session, [parent], table_rows=take_pending(session))
        assert take_pending(session) == {}  # taken: the commit hook does not write them again
        await add(session, "e4")  # added after the write: the commit hook writes it

    async def orphan_with_event() -> None:
        async with sessions() as session, session.begin():
            await add(session, "lost")  # rolled back with the row it came with
            orphan = Child(parent_id=uuid.uuid4(), label="orphan")
            await write_rows(session, [orphan], table_rows=take_pending(session))

    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await orphan_with_event()
    async with sessions() as session:
        keys = (await session.execute(select(OUTBOX.c.key).order_by(OUTBOX.c.id))).scalars()
        assert keys.all() == ["e1", "e2", "e3", "e4"]
        headers = (await session.execute(select(OUTBOX.c.headers))).scalars().first()
        assert headers["ce_type"] == "test.parent.changed"  # JSONB written as JSON
        assert (await session.execute(select(Parent.name))).scalars().all() == ["with-events"]


async def test_a_snapshot_cannot_be_changed_nor_added_to_a_session(sessions):
    parent = Parent(name="read-only")
    async with sessions() as session, session.begin():
        await write_rows(session, [parent])
    async with sessions() as session, session.begin():
        [copy] = await snapshots(session, Parent, select_from(Parent, "p"))
        with pytest.raises(SnapshotIsReadOnly, match=r"Parent\.name"):
            copy.name = "changed"
        with pytest.raises(DriverRowError):
            session.add(copy)  # it would be inserted as a new row
        with pytest.raises(DriverRowError, match="rows_for_update"):
            await write_rows(session, changed=[copy])  # read without a lock: never written back
        with pytest.raises(DriverRowError):
            session.add(new_row(Parent, name="plain"))
        with pytest.raises(SnapshotIsReadOnly):
            parent.name = "after"  # what write_rows wrote is a snapshot too
    async with sessions() as session:
        assert (await session.execute(select(Parent.name))).scalars().all() == ["read-only"]


async def test_a_row_for_update_changed_and_not_written_back_fails_the_commit(sessions):
    parent = Parent(name="held", attrs={"v": 1})
    async with sessions() as session, session.begin():
        await write_rows(session, [parent])

    async def change_without_writing_back() -> None:
        async with sessions() as session, session.begin():
            [row] = await rows_for_update(session, Parent, _PARENT_FOR_UPDATE, parent.id)
            row.name = "lost"
            session.add(Child(parent_id=parent.id, label="written"))  # the ORM's row

    with pytest.raises(UnwrittenChanges, match="Parent"):
        await change_without_writing_back()
    async with sessions() as session:
        assert (await session.execute(select(Parent.name))).scalars().all() == ["held"]
        assert (await session.execute(select(Child.label))).scalars().all() == []
    # Unchanged rows for update, or changed ones written back, commit.
    async with sessions() as session, session.begin():
        [row] = await rows_for_update(session, Parent, _PARENT_FOR_UPDATE, parent.id)
    async with sessions() as session, session.begin():
        [row] = await rows_for_update(session, Parent, _PARENT_FOR_UPDATE, parent.id)
        row.name = "kept"
        await write_rows(session, changed=[row])
    async with sessions() as session:
        assert (await session.execute(select(Parent.name))).scalars().all() == ["kept"]
