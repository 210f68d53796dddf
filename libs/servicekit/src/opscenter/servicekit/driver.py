"""Plain SQL on a unit of work's own connection, for the statements of hot paths (ADR 0010).

Through the ORM a statement costs several times what the driver does (the install request:
13 statements, about half the API's CPU). A hot path's repository may send its statements
through ``driver(session)`` instead. They run in the session's transaction and commit or roll
back with it, and they mix with ORM statements in that transaction. The rules:

- ``snapshot`` objects (read this way) are transient: the session does not know them, and
  one must never be added to it (it would be inserted as a new row).
- A changed snapshot is written back with ``write_rows``, whole, by a caller that holds the
  lock that keeps others from that row; otherwise a row the transaction changes is loaded
  and changed through the ORM.
- ``write_rows`` inserts new rows (ORM-constructed or ``new_row``) and writes changed snapshots
  back (any number of tables, in one statement); the session holds neither.
- Reads go through ``snapshots``/``one_snapshot`` with a statement that starts with
  ``select_from(Model, alias)`` (or selects ``column_list`` itself, for a join).
- JSON and JSONB parameters are JSON text and results arrive decoded: SQLAlchemy's dialect
  sets those codecs on every connection of the pool.
"""

# ruff: noqa: S608 - the SQL interpolates names from the models; values are $n parameters.

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cache, partial
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import JSON, Column, Table, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapper, Session

M = TypeVar("M", bound=DeclarativeBase)


_CONNECTION = "opscenter.driver.connection"


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection of the session's transaction, with the transaction open.

    Looked up once per transaction (a lookup through the session costs ~25 us, and a hot path
    sends several statements): the session's transaction object holds one connection until
    it ends, and the next transaction is another object."""
    sync = session.sync_session
    cached = sync.info.get(_CONNECTION)
    if cached is not None and cached[0] is sync.get_transaction():
        conn: asyncpg.Connection = cached[1]
        return conn
    connection = await session.connection()
    conn = await _opened((await connection.get_raw_connection()).dbapi_connection)
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
    """The rows of ``sql`` (which selects ``select_from(model, ...)``) as snapshots."""
    rows = await (await driver(session)).fetch(sql, *args)
    return [snapshot(model, r) for r in rows]


async def one_snapshot(session: AsyncSession, model: type[M], sql: str, *args: Any) -> M | None:
    """The first row of ``sql`` as a snapshot; None when there is none."""
    row = await (await driver(session)).fetchrow(sql, *args)
    return None if row is None else snapshot(model, row)


def execute_from_hook(session: Session, sql: str, *args: Any) -> None:
    """``sql`` on the session's connection, in its transaction, from a synchronous session
    event hook (which SQLAlchemy runs inside the async session's greenlet)."""
    adapted: Any = session.connection().connection.dbapi_connection

    async def run(_: asyncpg.Connection) -> None:
        await (await _opened(adapted)).execute(sql, *args)

    adapted.run_async(run)


async def _opened(adapted: Any) -> asyncpg.Connection:
    # SQLAlchemy's asyncpg adapter sends BEGIN with its first statement; one sent past it must
    # find the transaction open already, or it would commit on its own.
    if not adapted._started:
        await adapted._start_transaction()
    conn: asyncpg.Connection = adapted.driver_connection
    return conn


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
    """A transient ``model`` holding the record's values (every column, as ``column_list``
    selected them), built the way the ORM loads rows: without ``__init__`` or change events."""
    return _transient(model, {key: record[prefix + c.name] for key, c in _columns(model)})


def new_row(model: type[M], **values: Any) -> M:
    """A new, transient ``model`` holding ``values``, for ``write_rows``: built as ``snapshot``
    builds (a tenth of the ORM constructor's cost on a hot path). Like a snapshot it is never
    added to a session. A column not given reads None, and ``write_rows`` applies its
    Python-side default."""
    return _transient(model, values)


def _transient(model: type[M], values: dict[str, Any]) -> M:
    obj: M = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update(values)
    return obj


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
    """Inserts ``new`` (transient) objects, writes ``changed`` snapshots back (every column but
    the primary key, found by it) and inserts ``table_rows`` (rows of tables without a mapped
    class, such as the outbox's), for any number of tables, in ONE statement: a data-modifying
    CTE per table and kind, each column's values as one array parameter. Foreign keys between
    the rows hold, since Postgres checks them at the statement's end.

    As a flush would, a new row's column left None takes its Python-side default, which is also
    set on the object; a column that is None in every new row of a table is left to its server
    default. Python None is SQL NULL (also for JSON columns). A changed row is written whole:
    the caller holds the lock that keeps others from changing it since it was read."""
    built = write_statement(new, changed, table_rows)
    if built is not None:
        await (await driver(session)).execute(built[0], *built[1])


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
