"""Month boundaries for the month latency sketches (ADR 0025)."""

from __future__ import annotations

from datetime import UTC, datetime

from opscenter.analytics.buckets import month_floor, next_month, whole_months


def test_whole_months_are_the_months_inside_a_range():
    def at(y: int, m: int, d: int) -> datetime:
        return datetime(y, m, d, tzinfo=UTC)

    assert whole_months(at(2025, 12, 8), at(2026, 12, 8)) == (at(2026, 1, 1), at(2026, 12, 1))
    assert whole_months(at(2025, 12, 1), at(2026, 1, 1)) == (at(2025, 12, 1), at(2026, 1, 1))
    # no whole month: an empty pair at the start
    assert whole_months(at(2025, 12, 8), at(2026, 1, 8)) == (at(2025, 12, 8), at(2025, 12, 8))


def test_months_roll_over_the_year():
    assert month_floor(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(
        2026, 12, 1, tzinfo=UTC
    )
    assert next_month(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
