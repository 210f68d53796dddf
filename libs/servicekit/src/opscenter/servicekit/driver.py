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
- ``write_rows`` inserts new rows and writes changed snapshots back (any number of tables, in
  one statement); the session holds neither.
- JSON and JSONB parameters are JSON text and results arrive decoded: SQLAlchemy's dialect
  sets those codecs on every connection of the pool.
"""

# ruff: noqa: S608 - the SQL interpolates names from the models; values are $n parameters.

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import cache, partial
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import JSON, Column, Table, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapper, Session

M = TypeVar("M", bound=DeclarativeBase)


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection of the session's transaction, with the transaction open."""
    connection = await session.connection()
    return await _opened((await connection.get_raw_connection()).dbapi_connection)


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


def _table_name(model: type[DeclarativeBase]) -> str:
    table: Table = inspect(model).local_table  # type: ignore[assignment]
    return table.name


def column_list(model: type[DeclarativeBase], alias: str, prefix: str = "") -> str:
    """``alias.col AS prefixcol, ...`` for every column of ``model``, for a SELECT whose rows
    ``snapshot`` turns into objects (``prefix`` tells two models of one row apart)."""
    return ", ".join(f"{alias}.{c.name} AS {prefix}{c.name}" for _, c in _columns(model))


def snapshot(model: type[M], record: asyncpg.Record, prefix: str = "") -> M:
    """A transient ``model`` holding the record's values (every column, as ``column_list``
    selected them), built the way the ORM loads rows: without ``__init__`` or change events."""
    obj: M = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update({key: record[prefix + c.name] for key, c in _columns(model)})
    return obj


async def write_rows(
    conn: asyncpg.Connection,
    new: Iterable[DeclarativeBase] = (),
    changed: Iterable[DeclarativeBase] = (),
) -> None:
    """Inserts ``new`` (transient) objects and writes ``changed`` snapshots back (every column
    but the primary key, found by it), for any number of tables, in ONE statement: a
    data-modifying CTE per table and kind, each column's values as one array parameter.
    Foreign keys between the rows hold, since Postgres checks them at the statement's end.

    As a flush would, a new row's column left None takes its Python-side default, which is also
    set on the object; a column that is None in every new row of a table is left to its server
    default. Python None is SQL NULL (also for JSON columns). A changed row is written whole:
    the caller holds the lock that keeps others from changing it since it was read."""
    parts: list[str] = []
    args: list[list[Any]] = []

    def arrays(columns: Sequence[tuple[int, Column[Any]]], values: Sequence[Sequence[Any]]) -> str:
        out = []
        for i, column in columns:
            args.append([v[i] for v in values])
            out.append(f"${len(args)}::{_sql_type(column)}[]")
        return ", ".join(out)

    for model, rows in _by_model(new).items():
        values = [_values(model, obj) for obj in rows]
        present = [
            (i, c)
            for i, (_, c) in enumerate(_columns(model))
            if any(v[i] is not None for v in values)
        ]
        names = ", ".join(c.name for _, c in present)
        parts.append(
            f"t{len(parts)} AS (INSERT INTO {_table_name(model)} ({names})"
            f" SELECT * FROM unnest({arrays(present, values)}))"
        )
    for model, rows in _by_model(changed).items():
        values = [_values(model, obj) for obj in rows]
        every = list(enumerate(c for _, c in _columns(model)))
        names = ", ".join(c.name for _, c in every)
        keys = " AND ".join(f"t.{c.name} = u.{c.name}" for _, c in every if c.primary_key)
        sets = ", ".join(f"{c.name} = u.{c.name}" for _, c in every if not c.primary_key)
        parts.append(
            f"t{len(parts)} AS (UPDATE {_table_name(model)} t SET {sets}"
            f" FROM unnest({arrays(every, values)}) AS u({names}) WHERE {keys})"
        )
    if parts:
        await conn.execute(f"WITH {', '.join(parts)} SELECT 1", *args)


def _by_model(objects: Iterable[DeclarativeBase]) -> dict[type[DeclarativeBase], list[Any]]:
    by_model: dict[type[DeclarativeBase], list[Any]] = defaultdict(list)
    for obj in objects:
        by_model[type(obj)].append(obj)
    return by_model


@cache
def _sql_type(column: Column[Any]) -> str:
    return str(column.type.compile(dialect=postgresql.dialect()))


def _values(model: type[DeclarativeBase], obj: DeclarativeBase) -> Sequence[Any]:
    out = []
    state = obj.__dict__
    for key, default, is_json in _write_spec(model):
        value = state.get(key)
        if value is None and default is not None:
            value = default()
            setattr(obj, key, value)
        if value is not None and is_json:
            value = json.dumps(value)
        out.append(value)
    return out


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
