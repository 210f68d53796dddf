"""Opaque keyset cursors: base64url of a JSON list holding the last row's sort key and id.

A cursor comes back from the client, so it is untrusted input like any other: `decode_cursor`
refuses anything but a list of the expected length whose strings Postgres can store, and the
value checkers below (`cursor_timestamp`, `cursor_uuid`, `cursor_int`, `cursor_float`,
`cursor_text`) check each value's type and range before it reaches SQL. Every refusal is the same
422 naming ``query.cursor``; a tampered cursor never answers 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from opscenter.servicekit.errors import Problem, field_error
from opscenter.servicekit.nul_guard import find_bad_text

MAX_CURSOR_TEXT = 512
# Postgres' int4; a sort key wider than that is not one this platform wrote.
INT_RANGE = (-(2**31), 2**31 - 1)


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor() -> Problem:
    return Problem(
        422,
        "invalid-cursor",
        "The cursor is not one this list returned",
        errors=[field_error("query.cursor", "is not a valid cursor")],
    )


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The values of a cursor made by ``encode_cursor``; 422 naming ``cursor`` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        values = None
    if not isinstance(values, list) or len(values) != size or find_bad_text(values, "cursor"):
        raise invalid_cursor()
    return values


def cursor_text(value: Any, max_length: int = MAX_CURSOR_TEXT) -> str:
    if not isinstance(value, str) or len(value) > max_length:
        raise invalid_cursor()
    return value


def cursor_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(cursor_text(value, 36))
    except ValueError as exc:
        raise invalid_cursor() from exc


def cursor_int(value: Any, low: int = INT_RANGE[0], high: int = INT_RANGE[1]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_cursor()
    return value


def cursor_float(value: Any, low: float = -1e300, high: float = 1e300) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_cursor()
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise invalid_cursor()
    return number


def cursor_timestamp(value: Any) -> datetime:
    """An ISO 8601 time with its zone, given back in UTC; one whose UTC form falls outside what
    Python and Postgres both hold (``9999-12-31T23:59:59-23:59`` is in year 10000) is refused."""
    try:
        when = datetime.fromisoformat(cursor_text(value, 64))
        if when.tzinfo is None:
            raise ValueError(value)
        return when.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid_cursor() from exc


def decode_time_id_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """A ``(timestamp, id)`` cursor, for lists newest first; the time must carry its zone."""
    at, row_id = decode_cursor(cursor, 2)
    return cursor_timestamp(at), cursor_uuid(row_id)
