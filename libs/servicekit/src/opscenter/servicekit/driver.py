"""Plain SQL on a unit of work's own connection, for the statements of hot paths (ADR 0010).

Through the ORM a statement costs several times what the driver does. A hot path's repository
may send its statements through ``driver(session)`` instead. They run in the session's
transaction, commit or roll back with it, and mix with ORM statements in that transaction.

The driver hands out three kinds of objects of the models' classes, none known to the session
(``session.add`` refuses each of them with ``DriverRowError``; the model's base must derive from
``DriverRows``):

- **snapshots** (``snapshots``, ``one_snapshot``, ``snapshot``): read-only. Assigning to one
  raises ``SnapshotIsReadOnly``, so a change can never be made and then silently not saved.
- **rows for update** (``rows_for_update``): rows the caller holds a lock on (``FOR UPDATE``,
  or a lock that guards them such as the installer's tenant plan lock) and may change in memory
  and write back, whole, with ``write_rows(changed=...)``. One changed but not written back
  makes the commit fail with ``UnwrittenChanges`` (values are compared as read; change a JSON
  value by assigning a new one, not in place).
- **new rows** (``new_row``, or ORM-constructed objects) for ``write_rows(new=...)``.

Whatever ``write_rows`` wrote becomes a read-only snapshot. Reads go through a statement that
starts with ``select_from(Model, alias)`` (or selects ``column_list`` itself, for a join). JSON
and JSONB parameters are JSON text and results arrive decoded: SQLAlchemy's dialect sets those
codecs on every connection of the pool. SQLAlchemy's private attributes are used only through
``sqlalchemy_private``.
"""

# ruff: noqa: S608 - the SQL interpolates names from the models; values are $n parameters.

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cache, partial
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from sqlalchemy import JSON, Column, Table, event, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapper, Session

from opscenter.servicekit.sqlalchemy_private import (
    bare_instance,
    opened_connection,
    run_in_greenlet,
)

M = TypeVar("M", bound=DeclarativeBase)


_CONNECTION = "opscenter.driver.connection"
_HELD = "opscenter.driver.rows_for_update"
#: Where an object's kind is kept (in its ``__dict__``, beside the column values).
_KIND = "_opscenter_driver_row"
_SNAPSHOT = "snapshot"
_FOR_UPDATE = "row for update"
_NEW = "new row"


class DriverRowError(RuntimeError):
    """An object of the driver used as if the session knew it."""


class SnapshotIsReadOnly(DriverRowError):
    """Assignment to a snapshot: it would never be saved."""


class UnwrittenChanges(DriverRowError):
    """A row read for update was changed and not written back by the commit."""


class DriverRows:
    """Base class mixin for models the driver reads (``class Base(DriverRows, DeclarativeBase)``):
    their snapshots refuse assignment. Other instances are untouched."""

    __slots__ = ()

    if not TYPE_CHECKING:  # mypy keeps checking assignments against the mapped attributes

        def __setattr__(self, key: str, value: Any) -> None:
            if self.__dict__.get(_KIND) is _SNAPSHOT:
                raise SnapshotIsReadOnly(
                    f"{type(self).__name__}.{key}: a snapshot is read-only; read the row with "
                    "rows_for_update (under a lock) or through the ORM to change it"
                )
            super().__setattr__(key, value)


@event.listens_for(Session, "before_attach")
def _refuse_driver_rows(session: Session, obj: object) -> None:
    kind = getattr(obj, "__dict__", {}).get(_KIND)
    if kind is not None:
        raise DriverRowError(
            f"{type(obj).__name__}: a driver {kind} is never added to a session "
            "(it would be inserted again); write it with write_rows"
        )


@event.listens_for(Session, "before_commit")
def _refuse_unwritten_changes(session: Session) -> None:
    held = session.info.pop(_HELD, None)
    if held is None or held[0] is not session.get_transaction():
        return
    for obj, read in held[1]:
        if obj.__dict__.get(_KIND) is _FOR_UPDATE and _row_values(obj) != read:
            raise UnwrittenChanges(
                f"{type(obj).__name__} {_primary_key(obj)} was changed but not written back "
                "with write_rows; the commit would have lost the change"
            )


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection of the session's transaction, with the transaction open.

    Looked up once per transaction (a lookup through the session costs far more than the
    cached one, and a hot path sends several statements): the session's transaction object
    holds one connection until it ends, and the next transaction is another object."""
    sync = session.sync_session
    cached = sync.info.get(_CONNECTION)
    if cached is not None and cached[0] is sync.get_transaction():
        conn: asyncpg.Connection = cached[1]
        return conn
    connection = await session.connection()
    conn = await opened_connection((await connection.get_raw_connection()).dbapi_connection)
    sync.info[_CONNECTION] = (sync.get_transaction(), conn)
    return conn


@asynccontextmanager
async def outside_transaction(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection's asyncpg connection for a read that needs no transaction (one
    statement sees one snapshot anyway): no BEGIN and no ROLLBACK round trip, which is a third
    of a one-statement read's round trips. Never write through it: each statement would commit
    on its own."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        conn: asyncpg.Connection = raw.dbapi_connection.driver_connection  # type: ignore[union-attr]
        yield conn


async def snapshots(session: AsyncSession, model: type[M], sql: str, *args: Any) -> list[M]:
    """The rows of ``sql`` (which selects ``select_from(model, ...)``) as read-only snapshots."""
    rows = await (await driver(session)).fetch(sql, *args)
    return [snapshot(model, r) for r in rows]


async def one_snapshot(session: AsyncSession, model: type[M], sql: str, *args: Any) -> M | None:
    """The first row of ``sql`` as a read-only snapshot; None when there is none."""
    row = await (await driver(session)).fetchrow(sql, *args)
    return None if row is None else snapshot(model, row)


async def rows_for_update(session: AsyncSession, model: type[M], sql: str, *args: Any) -> list[M]:
    """The rows of ``sql`` as rows the caller may change and write back with ``write_rows``.

    The caller holds the lock that keeps others from these rows until its transaction ends
    (``sql`` ends in ``FOR UPDATE``, or another lock guards them): a row is written back whole.
    The commit fails with ``UnwrittenChanges`` if one was changed and not written back."""
    records = await (await driver(session)).fetch(sql, *args)
    rows = [_build(model, record, "", _FOR_UPDATE) for record in records]
    sync = session.sync_session
    held: tuple[object, list[tuple[DeclarativeBase, tuple[Any, ...]]]] | None
    held = sync.info.get(_HELD)
    if held is None or held[0] is not sync.get_transaction():
        held = (sync.get_transaction(), [])
        sync.info[_HELD] = held
    held[1].extend([(row, _row_values(row)) for row in rows])
    return rows


def execute_from_hook(session: Session, sql: str, *args: Any) -> None:
    """``sql`` on the session's connection, in its transaction, from a synchronous session
    event hook (which SQLAlchemy runs inside the async session's greenlet)."""
    adapted: Any = session.connection().connection.dbapi_connection

    async def run(_: asyncpg.Connection) -> None:
        await (await opened_connection(adapted)).execute(sql, *args)

    run_in_greenlet(adapted, run)


@cache
def _columns(model: type[DeclarativeBase]) -> tuple[tuple[str, Column[Any]], ...]:
    """(attribute name, column) of every column ``model`` maps, in table order."""
    mapper: Mapper[Any] = inspect(model)
    by_column: dict[Any, str] = {prop.columns[0]: prop.key for prop in mapper.column_attrs}
    table: Table = mapper.local_table  # type: ignore[assignment]
    return tuple((by_column[c], c) for c in table.columns)


@cache
def _table_name(model: type[DeclarativeBase]) -> str:
    table: Table = inspect(model).local_table  # type: ignore[assignment]
    return table.name


def column_list(model: type[DeclarativeBase], alias: str, prefix: str = "") -> str:
    """``alias.col AS prefixcol, ...`` for every column of ``model``, for a SELECT whose rows
    ``snapshot`` turns into objects (``prefix`` tells two models of one row apart)."""
    return ", ".join(f"{alias}.{c.name} AS {prefix}{c.name}" for _, c in _columns(model))


def select_from(model: type[DeclarativeBase], alias: str) -> str:
    """``SELECT <every column> FROM <table> <alias>``: the start of a statement whose rows are
    ``model`` snapshots; the caller adds its WHERE (values as $n parameters)."""
    return f"SELECT {column_list(model, alias)} FROM {_table_name(model)} {alias}"


def snapshot(model: type[M], record: asyncpg.Record, prefix: str = "") -> M:
    """A read-only ``model`` holding the record's values (every column, as ``column_list``
    selected them), built the way the ORM loads rows: without ``__init__`` or change events."""
    return _build(model, record, prefix, _SNAPSHOT)


def new_row(model: type[M], **values: Any) -> M:
    """A new ``model`` holding ``values``, for ``write_rows``, built without the ORM constructor
    (far cheaper on a hot path). It may be changed until ``write_rows`` wrote it. A column not given
    reads None, and ``write_rows`` applies its Python-side default."""
    obj = bare_instance(_guarded(model))
    obj.__dict__.update(values)
    obj.__dict__[_KIND] = _NEW
    return obj


def _build(model: type[M], record: asyncpg.Record, prefix: str, kind: str) -> M:
    obj = bare_instance(_guarded(model))
    values = obj.__dict__
    for key, column in _columns(model):
        values[key] = record[prefix + column.name]
    values[_KIND] = kind
    return obj


@cache
def _guarded(model: type[M]) -> type[M]:
    if not issubclass(model, DriverRows):
        raise TypeError(f"{model.__name__}: its declarative base must derive from DriverRows")
    return model


def _row_values(obj: DeclarativeBase) -> tuple[Any, ...]:
    values = obj.__dict__
    return tuple(values.get(key) for key, _ in _columns(type(obj)))


def _primary_key(obj: DeclarativeBase) -> tuple[Any, ...]:
    return tuple(obj.__dict__.get(key) for key, c in _columns(type(obj)) if c.primary_key)


#: Rows of plain tables: per table, dicts of one set of columns. Inserted in list order (the
#: table's identity draws ids in that order).
TableRows = Mapping[Table, Sequence[Mapping[str, Any]]]

# One part of a statement: its kind, table and written columns (parameters in that order).
_Part = tuple[str, str, tuple["Column[Any]", ...]]


async def write_rows(
    session: AsyncSession,
    new: Iterable[DeclarativeBase] = (),
    changed: Iterable[DeclarativeBase] = (),
    table_rows: TableRows | None = None,
) -> None:
    """Inserts ``new`` objects (``new_row`` or ORM-constructed, never added to a session),
    writes ``changed`` rows back (rows read with ``rows_for_update``: every column but the
    primary key, found by it) and inserts ``table_rows`` (rows of tables without a mapped
    class, such as the outbox's), for any number of tables, in ONE statement: a data-modifying
    CTE per table and kind, each column's values as one array parameter. Foreign keys between
    the rows hold, since Postgres checks them at the statement's end.

    As a flush would, a new row's column left None takes its Python-side default, which is also
    set on the object; a column that is None in every new row of a table is left to its server
    default. Python None is SQL NULL (also for JSON columns). Every object written becomes a
    read-only snapshot: a later change would not be saved."""
    new, changed = list(new), list(changed)
    for obj in changed:
        if obj.__dict__.get(_KIND) is not _FOR_UPDATE:
            raise DriverRowError(
                f"{type(obj).__name__} {_primary_key(obj)}: only rows read with rows_for_update "
                "(under the caller's lock) are written back"
            )
    built = write_statement(new, changed, table_rows)
    if built is not None:
        await (await driver(session)).execute(built[0], *built[1])
    for obj in (*new, *changed):
        obj.__dict__[_KIND] = _SNAPSHOT


def write_statement(
    new: Iterable[DeclarativeBase] = (),
    changed: Iterable[DeclarativeBase] = (),
    table_rows: TableRows | None = None,
) -> tuple[str, list[list[Any]]] | None:
    """The statement and parameters of ``write_rows`` (None when there is nothing to write),
    for a caller that sends it itself (a session hook, through ``execute_from_hook``)."""
    shape: list[_Part] = []
    args: list[list[Any]] = []
    for kind, objects in (("insert", new), ("update", changed)):
        for model, rows in _by_model(objects).items():
            values = [_values(model, obj) for obj in rows]
            every = range(len(_columns(model)))
            written = tuple(
                every
                if kind == "update"
                else (i for i in every if any(v[i] is not None for v in values))
            )
            shape.append((kind, _table_name(model), tuple(_columns(model)[i][1] for i in written)))
            args += ([v[i] for v in values] for i in written)
    for table, dicts in (table_rows or {}).items():
        if not dicts:
            continue
        columns = tuple(table.c[name] for name in dicts[0])
        shape.append(("insert", table.name, columns))
        for c in columns:
            is_json = isinstance(c.type, JSON)
            args.append([_param(d[c.name], is_json) for d in dicts])
    if not shape:
        return None
    return _write_statement(tuple(shape)), args


@cache
def _write_statement(shape: tuple[_Part, ...]) -> str:
    """The statement for rows of this shape, built once per shape. Inserts keep the arrays'
    order (WITH ORDINALITY), so an identity column draws ids in list order."""
    parts: list[str] = []
    n = 0
    for kind, table, columns in shape:
        arrays = ", ".join(f"${n + k}::{sql_type(c)}[]" for k, c in enumerate(columns, 1))
        n += len(columns)
        names = ", ".join(c.name for c in columns)
        if kind == "insert":
            parts.append(
                f"t{len(parts)} AS (INSERT INTO {table} ({names}) SELECT {names}"
                f" FROM unnest({arrays}) WITH ORDINALITY AS u({names}, n) ORDER BY n)"
            )
        else:
            keys = " AND ".join(f"t.{c.name} = u.{c.name}" for c in columns if c.primary_key)
            sets = ", ".join(f"{c.name} = u.{c.name}" for c in columns if not c.primary_key)
            parts.append(
                f"t{len(parts)} AS (UPDATE {table} t SET {sets}"
                f" FROM unnest({arrays}) AS u({names}) WHERE {keys})"
            )
    return f"WITH {', '.join(parts)} SELECT 1"


def _by_model(objects: Iterable[DeclarativeBase]) -> dict[type[DeclarativeBase], list[Any]]:
    by_model: dict[type[DeclarativeBase], list[Any]] = defaultdict(list)
    for obj in objects:
        by_model[type(obj)].append(obj)
    return by_model


@cache
def sql_type(column: Column[Any]) -> str:
    """The column's Postgres type as SQL (``VARCHAR(64)``, ``TIMESTAMP WITH TIME ZONE``)."""
    return str(column.type.compile(dialect=postgresql.dialect()))


def _values(model: type[DeclarativeBase], obj: DeclarativeBase) -> Sequence[Any]:
    out = []
    state = obj.__dict__
    for key, default, is_json in _write_spec(model):
        value = state.get(key)
        if value is None and default is not None:
            value = default()
            setattr(obj, key, value)
        out.append(_param(value, is_json))
    return out


def _param(value: Any, is_json: bool) -> Any:
    # JSON travels as JSON text; None stays SQL NULL (not JSON null).
    return json.dumps(value) if is_json and value is not None else value


@cache
def _write_spec(
    model: type[DeclarativeBase],
) -> tuple[tuple[str, Callable[[], Any] | None, bool], ...]:
    """Per column: the attribute, its Python-side default (None: none), whether it is JSON."""
    spec = []
    for key, column in _columns(model):
        default: Any = column.default
        make: Callable[[], Any] | None = None
        if default is not None:
            if default.is_callable:
                make = partial(default.arg, None)
            elif default.is_scalar:
                make = partial(lambda v: v, default.arg)
            else:
                raise TypeError(f"{column}: only Python-side defaults are applied here")
        spec.append((key, make, isinstance(column.type, JSON)))
    return tuple(spec)
