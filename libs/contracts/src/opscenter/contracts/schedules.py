"""Cron schedules a manifest declares (``cron:schedule``): the expression rules and tick times.

Rules (ADR 0021):
- An expression has the usual 5 fields (minute hour day-of-month month day-of-week, as
  ``cronsim`` reads them: ranges, steps, names, ``L``); a 6th, leading seconds field is read
  too, so the minimum interval alone decides how often a schedule may fire. Times are UTC.
- ``MIN_INTERVAL_S`` (60 s) is the documented minimum between two ticks. It is a publishing
  rule: ``validate_manifest`` (the catalog's upload) enforces it; a manifest read back from an
  event is not judged again. The hooks scheduler has its own floor, lowered only on test
  instances, so nothing more frequent than the operator allows is ever scheduled.
- The gap is measured over the first ``_GAP_SAMPLE`` ticks (at most four years of them) from a
  fixed instant: exact for
  any floor up to a minute (sub-minute gaps come from the seconds field and repeat every
  minute that matches), a sample for longer floors.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise

from cronsim import CronSim, CronSimError

from opscenter.contracts.errors import FieldError
from opscenter.contracts.permissions import Permission, covers

__all__ = [
    "MIN_INTERVAL_S",
    "cron_problem",
    "latest_tick",
    "min_gap_s",
    "next_tick",
    "schedule_problems",
    "too_frequent",
]

MIN_INTERVAL_S = 60.0
"""The documented minimum interval between two ticks of one schedule."""

TICK_EVENT = "schedule.tick"
"""The hook event a tick is delivered as (``ScheduleTickV1``)."""

_GAP_SAMPLE = 500
_SAMPLE_FROM = datetime(2026, 1, 1, tzinfo=UTC)
_SAMPLE_SPAN = timedelta(days=366 * 4)
_MAX_LENGTH = 200


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a cron expression a schedule may use, or None."""
    if len(expression) > _MAX_LENGTH:
        return f"cron expression is longer than {_MAX_LENGTH} characters"
    fields = len(expression.split())
    if fields not in (5, 6):
        return (
            f"cron expression {expression!r} has {fields} fields; it needs 5 "
            "(minute hour day-of-month month day-of-week)"
        )
    try:
        next(CronSim(expression, _SAMPLE_FROM))
    except (CronSimError, StopIteration) as exc:
        return f"cron expression {expression!r} is not valid: {exc or 'it never fires'}"
    return None


@lru_cache(maxsize=4096)
def min_gap_s(expression: str) -> float:
    """The shortest time between consecutive ticks of a valid ``expression`` (see the module's
    rule on how it is measured)."""
    ticks: list[datetime] = []
    for tick in CronSim(expression, _SAMPLE_FROM):
        ticks.append(tick)
        if len(ticks) >= _GAP_SAMPLE or tick - _SAMPLE_FROM > _SAMPLE_SPAN:
            break
    if len(ticks) < 2:
        return _SAMPLE_SPAN.total_seconds()
    return min((b - a).total_seconds() for a, b in pairwise(ticks))


def latest_tick(expression: str, now: datetime) -> datetime:
    """The newest tick of a valid ``expression`` at or before ``now`` (whole seconds, UTC)."""
    start = now.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    # Reverse iteration yields ticks strictly before its start: a second past ``now``.
    return next(CronSim(expression, start, reverse=True))


def schedule_problems(
    names: Sequence[str], permissions: Sequence[str], hook_names: Sequence[str]
) -> list[FieldError]:
    """A manifest's schedules against its permissions and hooks (see ``manifest``)."""
    problems: list[FieldError] = []
    has_tick_hook = TICK_EVENT in hook_names
    if not names:
        if has_tick_hook:
            problems.append(
                FieldError("schedules", f"a {TICK_EVENT} hook needs at least one schedule")
            )
        return problems
    if not covers(permissions, Permission.CRON_SCHEDULE):
        problems.append(
            FieldError(
                "schedules", "schedules need permission cron:schedule; add it to permissions"
            )
        )
    if not has_tick_hook:
        problems.append(
            FieldError(
                "schedules",
                f"schedules are delivered to a {TICK_EVENT} hook; add one to hooks "
                "(url or handler)",
            )
        )
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append(FieldError(f"schedules[{i}].name", f"{name} is declared twice"))
    return problems


def too_frequent(crons: Sequence[str], floor_s: float) -> list[FieldError]:
    """A problem for each of a manifest's (valid) cron expressions that fires more often
    than every ``floor_s`` seconds."""
    problems: list[FieldError] = []
    for i, cron in enumerate(crons):
        gap = min_gap_s(cron)
        if gap < floor_s:
            problems.append(
                FieldError(
                    f"schedules[{i}].cron",
                    f"{cron!r} fires every {gap:g} s; the minimum interval is {floor_s:g} s",
                )
            )
    return problems


def next_tick(expression: str, now: datetime) -> datetime:
    """The first tick of a valid ``expression`` strictly after ``now`` (UTC)."""
    return next(CronSim(expression, now.astimezone(UTC)))
