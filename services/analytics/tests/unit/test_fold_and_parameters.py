"""Pure parts of ingest and the query: folding a batch, late hours, metric names, ranges."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from opscenter.analytics.ingest.service import _with_late_days, fold
from opscenter.analytics.metrics.schemas import PluginAnalytics, series_csv
from opscenter.analytics.metrics.service import (
    METRICS,
    SeriesQuery,
    parse_metrics,
    resolve_range,
)
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.analytics.testing import PluginEvents
from opscenter.servicekit.errors import Problem

T = datetime(2026, 11, 30, 10, 15, tzinfo=UTC)
SETTINGS = AnalyticsSettings(hourly_retention_days=7, daily_retention_days=400, max_buckets=100)


def test_a_batch_is_summed_per_row_key():
    p = PluginEvents("pub-fold")
    inst = uuid.uuid4()
    batch = fold(
        [
            p.registered(T),
            p.downloaded(T),
            p.downloaded(T + timedelta(minutes=30)),
            p.downloaded(T + timedelta(hours=1)),
            p.installed(T, inst),
            p.delivery(T, 100, "dead_lettered"),
        ]
    )
    hour = T.replace(minute=0)
    downloads = {k: v[4] for k, v in batch.counts.items() if v[4]}
    assert downloads == {
        (p.plugin_id, hour, "1.0.0"): 2,
        (p.plugin_id, hour + timedelta(hours=1), "1.0.0"): 1,
    }
    deliveries, failures, dead = batch.counts[(p.plugin_id, hour, "")][5:8]
    assert (deliveries, failures, dead) == (1, 1, 1)
    assert batch.directory[p.plugin_id] == (p.slug, "pub-fold")
    assert len(batch.transitions) == 1


def test_hours_before_the_watermark_also_go_to_their_day():
    plugin = uuid.uuid4()
    hour = datetime(2026, 11, 29, 5, tzinfo=UTC)
    rows = {(plugin, hour, "v"): 2, (plugin, hour + timedelta(hours=1), "v"): 3}
    late = _with_late_days(rows, datetime(2026, 11, 30, tzinfo=UTC), lambda a, b: a + b)
    assert ("day", (plugin, datetime(2026, 11, 29, tzinfo=UTC), "v"), 5) in late
    assert len(late) == 3
    on_time = _with_late_days(rows, datetime(2026, 11, 29, tzinfo=UTC), lambda a, b: a + b)
    assert [grain for grain, _, _ in on_time] == ["hour", "hour"]


def test_metric_names_are_checked():
    assert parse_metrics(None, None) == list(METRICS)
    assert parse_metrics(" downloads , installs", None) == ["installs", "downloads"]
    assert "hook_deliveries" not in parse_metrics(None, "1.0.0")
    for raw, version in (("installs,nope", None), ("revenue", "1.0.0")):
        with pytest.raises(Problem) as caught:
            parse_metrics(raw, version)
        assert caught.value.status == 422
        assert caught.value.errors[0]["field"] == "query.metrics"


@pytest.mark.parametrize(
    ("start", "end", "interval", "field"),
    [
        (T, T - timedelta(days=1), "day", "query.from"),
        (T - timedelta(days=9), T, "hour", "query.from"),
        (T - timedelta(days=401), T, "day", "query.from"),
        (T - timedelta(days=150), T, "day", "query.from"),  # more than max_buckets
        (T - timedelta(days=30), T, "hour", "query.from"),
    ],
)
def test_bad_ranges_name_the_parameter(start, end, interval, field):
    with pytest.raises(Problem) as caught:
        resolve_range(SeriesQuery(start, end, interval, None, None), SETTINGS, T)
    assert caught.value.errors[0]["field"] == field


def test_a_range_is_floored_to_its_buckets_and_defaults_to_30_days():
    start, end = resolve_range(SeriesQuery(None, None, "day", None, None), SETTINGS, T)
    assert (start, end) == (datetime(2026, 10, 31, tzinfo=UTC), T)
    start, _ = resolve_range(
        SeriesQuery(T, None, "hour", None, None), SETTINGS, T + timedelta(hours=3)
    )
    assert start == datetime(2026, 11, 30, 10, tzinfo=UTC)


def test_csv_has_a_column_per_metric_and_currency():
    answer = PluginAnalytics.model_validate(
        {
            "plugin_id": uuid.uuid4(),
            "slug": "x",
            "interval": "day",
            "from": T,
            "to": T,
            "version": None,
            "metrics": ["downloads", "revenue"],
            "series": [
                {
                    "bucket_start": T,
                    "downloads": 3,
                    "revenue": {
                        "EUR": {
                            "gross": "1.00",
                            "developer": "0.70",
                            "platform": "0.30",
                            "charges": 1,
                        }
                    },
                }
            ],
            "totals": {},
        }
    )
    lines = series_csv(answer).splitlines()
    assert (
        lines[0]
        == "bucket_start,downloads,revenue_EUR_gross,revenue_EUR_developer,revenue_EUR_platform"
    )
    assert lines[1].endswith(",3,1.00,0.70,0.30")
