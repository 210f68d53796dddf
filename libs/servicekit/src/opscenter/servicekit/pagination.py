"""Opaque keyset cursors: base64url of a JSON list holding the last row's sort key and id."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from opscenter.servicekit.errors import Problem, field_error


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The values of a cursor made by ``encode_cursor``; 422 naming ``cursor`` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise invalid_cursor()
    return values


def invalid_cursor() -> Problem:
    return Problem(
        422,
        "invalid-cursor",
        "The cursor is not one this list returned",
        errors=[field_error("query.cursor", "is not a valid cursor")],
    )


def decode_time_id_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """A ``(timestamp, id)`` cursor, for lists newest first; the time must carry its zone."""
    at, row_id = decode_cursor(cursor, 2)
    try:
        when = datetime.fromisoformat(str(at))
        if when.tzinfo is None:
            raise ValueError(at)
        return when, uuid.UUID(str(row_id))
    except ValueError as exc:
        raise invalid_cursor() from exc
