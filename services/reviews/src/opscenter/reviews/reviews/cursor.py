"""Opaque keyset cursors of review lists: base64url of a JSON list holding the sort's name and
the last row's sort key (see ``repository.cursor_columns``). A cursor of another sort, or one
that was not made here, answers 422 naming ``cursor``."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opscenter.reviews.reviews.repository import cursor_columns
from opscenter.reviews.reviews.schemas import ReviewSort
from opscenter.servicekit.errors import Problem, field_error

_INT_MAX = 2**31 - 1


def encode_cursor(row: Mapping[str, Any], sort: ReviewSort) -> str:
    values = [sort.value, *(_encode(row[c]) for c in cursor_columns(sort))]
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def decode_cursor(cursor: str, sort: ReviewSort) -> list[Any]:
    """The cursor's sort-key values, typed for the page statement."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _invalid("is not a valid cursor") from None
    columns = cursor_columns(sort)
    if not isinstance(values, list) or not values:
        raise _invalid("is not a valid cursor")
    if values[0] != sort.value:
        raise _invalid(f"belongs to another sort than {sort.value!r}")
    if len(values) != len(columns) + 1:
        raise _invalid("is not a valid cursor")
    try:
        return [_decode(c, v) for c, v in zip(columns, values[1:], strict=True)]
    except (TypeError, ValueError):
        raise _invalid("is not a valid cursor") from None


def _decode(column: str, value: Any) -> Any:
    if column == "created_at":
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            raise ValueError(value)
        return when
    if column == "id":
        return uuid.UUID(value)
    low, high = (1, 5) if column == "rating" else (0, _INT_MAX)
    if type(value) is not int or not low <= value <= high:
        raise ValueError(value)
    return value


def _invalid(message: str) -> Problem:
    return Problem(
        422,
        "invalid-cursor",
        f"The cursor {message}",
        errors=[field_error("query.cursor", message)],
    )
