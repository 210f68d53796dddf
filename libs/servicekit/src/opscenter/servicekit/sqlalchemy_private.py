"""Every use of SQLAlchemy's private attributes, in one module that only ``driver`` imports
(an import-linter contract holds it).

They are attributes of SQLAlchemy 2.0.x (pinned in ``uv.lock``): the asyncpg adapter's
transaction flag and opener, and the class manager's bare instance factory.
``libs/servicekit/tests/integration/test_sqlalchemy_private.py`` exercises each one on a real
connection, so an upgrade that renames or changes one fails there, not in production.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.orm import DeclarativeBase

M = TypeVar("M", bound=DeclarativeBase)


async def opened_connection(adapted: Any) -> asyncpg.Connection:
    """The asyncpg connection behind SQLAlchemy's adapter, with its transaction begun.

    The adapter sends BEGIN with its first statement; one sent past it must find the
    transaction open already, or it would commit on its own."""
    if not adapted._started:
        await adapted._start_transaction()
    conn: asyncpg.Connection = adapted.driver_connection
    return conn


def run_in_greenlet(adapted: Any, work: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
    """Runs ``work`` from synchronous code inside the async session's greenlet (a session event
    hook), as the adapter runs its own statements."""
    adapted.run_async(work)


def bare_instance(model: type[M]) -> M:
    """An instance of ``model`` built as the ORM builds loaded rows: no ``__init__``, no events."""
    obj: M = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    return obj
