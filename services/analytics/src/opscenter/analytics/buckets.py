"""Time buckets: every bucket starts on a UTC hour or day boundary; month sketches
(``latency_months``) start on a UTC month boundary."""

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


def month_floor(moment: datetime) -> datetime:
    """The start of the UTC month that holds ``moment``."""
    return floor(moment, "day").replace(day=1)


def next_month(month_start: datetime) -> datetime:
    """The start of the month after the one starting at ``month_start``."""
    if month_start.month == 12:
        return month_start.replace(year=month_start.year + 1, month=1)
    return month_start.replace(month=month_start.month + 1)


def whole_months(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``[first, last)``: the months that lie wholly inside ``[start, end)``; an empty pair
    (``first == last == start``) when there is none."""
    first = month_floor(start)
    if first < utc(start):
        first = next_month(first)
    last = month_floor(end)
    return (first, last) if first < last else (utc(start), utc(start))
