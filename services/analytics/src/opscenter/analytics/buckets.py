"""Time buckets: every bucket starts on a UTC hour or day boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

Interval = Literal["hour", "day"]

STEP: dict[Interval, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def floor(moment: datetime, interval: Interval) -> datetime:
    """The start of the bucket of ``interval`` that holds ``moment``."""
    moment = utc(moment)
    if interval == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def starts(start: datetime, end: datetime, interval: Interval) -> list[datetime]:
    """Every bucket start from ``floor(start)`` while it is before ``end``."""
    step = STEP[interval]
    current = floor(start, interval)
    out: list[datetime] = []
    while current < end:
        out.append(current)
        current += step
    return out
