"""The analytics API: who may see what, parameter checks, empty buckets, CSV, the overview."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from opscenter.analytics.buckets import floor
from opscenter.analytics.metrics.schemas import PluginAnalytics
from opscenter.analytics.testing import PluginEvents

DAY = floor(datetime.now(UTC), "day") - timedelta(days=3)
PROBLEM = "application/problem+json"


@pytest.fixture
async def plugin(feed) -> PluginEvents:
    p = PluginEvents(f"pub-{uuid.uuid4().hex[:6]}")
    inst = uuid.uuid4()
    await feed(
        [
            p.registered(DAY),
            p.installed(DAY + timedelta(hours=2), inst),
            p.downloaded(DAY + timedelta(hours=2)),
            p.downloaded(DAY + timedelta(days=2, hours=5)),
            p.charged(DAY + timedelta(hours=3), Decimal("10.00")),
            p.rated(DAY + timedelta(hours=4), {1: 0, 2: 0, 3: 0, 4: 1, 5: 1}),
        ]
    )
    return p


def _url(ref: object) -> str:
    return f"/api/v1/plugins/{ref}/analytics"


def _range(days: int = 3) -> dict[str, str]:
    return {"from": DAY.isoformat(), "to": (DAY + timedelta(days=days)).isoformat()}


async def test_every_bucket_is_present_and_empty_ones_are_zeros(client, tokens, plugin):
    r = await client.get(
        _url(plugin.slug),
        params={**_range(), "metrics": "downloads,installs,active_installs,rating,revenue"},
        headers=tokens.developer(plugin.publisher_id),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["plugin_id"] == str(plugin.plugin_id)
    assert [p["downloads"] for p in body["series"]] == [1, 0, 1]
    assert [p["installs"] for p in body["series"]] == [1, 0, 0]
    assert [p["active_installs"] for p in body["series"]] == [1, 1, 1]  # a gauge carries on
    assert [p["rating"] for p in body["series"]] == [{"average": 4.5, "count": 2}] * 3
    assert [p["revenue"]["USD"]["gross"] for p in body["series"]] == ["10.00", "0.00", "0.00"]
    assert body["totals"]["downloads"] == 2
    assert set(body["series"][0]) == {
        "bucket_start",
        "downloads",
        "installs",
        "active_installs",
        "rating",
        "revenue",
    }


async def test_the_answer_built_without_validation_is_what_its_model_validates(
    client, tokens, plugin
):
    """The series answer is built from the service's values without validating them again
    (``built_values``): validated against its model, it serializes to the same bytes."""
    for metrics in (None, "revenue,rating", "hook_latency_p95,active_installs"):
        params = {**_range(), **({"metrics": metrics} if metrics else {})}
        r = await client.get(
            _url(plugin.slug), params=params, headers=tokens.developer(plugin.publisher_id)
        )
        assert r.status_code == 200, r.text
        again = PluginAnalytics.model_validate_json(r.content)
        assert again.model_dump_json(by_alias=True, exclude_unset=True).encode() == r.content


async def test_the_plugin_is_named_by_uuid_or_slug(client, tokens, plugin):
    headers = tokens.developer(plugin.publisher_id)
    by_slug = await client.get(_url(plugin.slug), params=_range(), headers=headers)
    by_id = await client.get(_url(plugin.plugin_id), params=_range(), headers=headers)
    assert by_slug.status_code == by_id.status_code == 200
    assert by_slug.json() == by_id.json()


async def test_another_developers_plugin_is_not_found_and_an_admin_sees_all(client, tokens, plugin):
    other = await client.get(_url(plugin.slug), headers=tokens.developer("pub-someone-else"))
    assert other.status_code == 404
    assert other.headers["content-type"].startswith(PROBLEM)
    missing = await client.get(_url(uuid.uuid4()), headers=tokens.admin())
    assert missing.status_code == 404
    admin = await client.get(_url(plugin.slug), params=_range(), headers=tokens.admin())
    assert admin.status_code == 200
    assert (await client.get(_url(plugin.slug), headers=tokens.member())).status_code == 403
    assert (await client.get(_url(plugin.slug))).status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-20T00:00:00Z", "to": "2026-11-10T00:00:00Z"}, "query.from"),
        ({"from": "2001-01-01T00:00:00Z"}, "query.from"),
        ({"interval": "hour", "from": "2026-01-01T00:00:00Z"}, "query.from"),
        ({"interval": "week"}, "query.interval"),
        ({"metrics": "installs,mood"}, "query.metrics"),
        ({"metrics": "hook_deliveries", "version": "1.0.0"}, "query.metrics"),
        ({"from": "yesterday"}, "query.from"),
        ({"format": "xml"}, "query.format"),
    ],
)
async def test_bad_parameters_answer_422_naming_the_parameter(
    client, tokens, plugin, params, field
):
    r = await client.get(_url(plugin.slug), params=params, headers=tokens.admin())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_a_version_filters_the_versioned_metrics(client, tokens, feed):
    p = PluginEvents("pub-versions")
    await feed(
        [
            p.registered(DAY),
            p.downloaded(DAY + timedelta(hours=1), version="1.0.0"),
            p.downloaded(DAY + timedelta(hours=1), version="2.0.0"),
            p.downloaded(DAY + timedelta(hours=2), version="2.0.0"),
        ]
    )
    headers = tokens.developer(p.publisher_id)
    v2 = await client.get(_url(p.slug), params={**_range(1), "version": "2.0.0"}, headers=headers)
    assert v2.status_code == 200, v2.text
    assert v2.json()["totals"]["downloads"] == 2
    assert "hook_deliveries" not in v2.json()["totals"]
    every = await client.get(_url(p.slug), params=_range(1), headers=headers)
    assert every.json()["totals"]["downloads"] == 3


async def test_a_series_exports_as_csv(client, tokens, plugin):
    headers = tokens.developer(plugin.publisher_id)
    params = {**_range(), "metrics": "downloads,rating,revenue"}
    by_format = await client.get(
        _url(plugin.slug), params={**params, "format": "csv"}, headers=headers
    )
    by_accept = await client.get(
        _url(plugin.slug), params=params, headers={**headers, "Accept": "text/csv"}
    )
    for r in (by_format, by_accept):
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
    assert by_format.text == by_accept.text
    rows = list(csv.DictReader(io.StringIO(by_format.text)))
    assert [row["downloads"] for row in rows] == ["1", "0", "1"]
    assert rows[0]["revenue_USD_gross"] == "10.00"
    assert rows[0]["revenue_USD_developer"] == "7.00"
    assert rows[0]["revenue_USD_platform"] == "3.00"
    assert rows[2]["rating_average"] == "4.5"
    assert rows[0]["bucket_start"] == DAY.isoformat()


async def test_the_overview_ranks_plugins_and_sums_the_platform(client, tokens, feed):
    big, small = PluginEvents("pub-big"), PluginEvents("pub-small")
    at = DAY + timedelta(hours=1)
    events = [big.registered(DAY), small.registered(DAY)]
    events += [big.installed(at, uuid.uuid4()) for _ in range(40)]
    events += [small.installed(at, uuid.uuid4()) for _ in range(39)]
    events += [big.delivery(at, 10) for _ in range(3)]
    events += [small.delivery(at, 10) for _ in range(50)]
    events += [small.charged(at, Decimal("999.99")), big.charged(at, Decimal("1.00"))]
    before = await client.get("/api/v1/admin/analytics/overview", headers=tokens.admin())
    await feed(events)
    r = await client.get(
        "/api/v1/admin/analytics/overview", params={"limit": 100}, headers=tokens.admin()
    )
    assert r.status_code == 200, r.text
    body = r.json()
    ranked = [x["slug"] for x in body["top_by_installs"]]
    assert ranked.index(big.slug) < ranked.index(small.slug)
    deliveries = [x["slug"] for x in body["top_by_deliveries"]]
    assert deliveries.index(small.slug) < deliveries.index(big.slug)
    by_revenue = [x["slug"] for x in body["top_by_revenue"]]
    assert by_revenue.index(small.slug) < by_revenue.index(big.slug)
    grew = body["totals"]["installs"] - before.json()["totals"]["installs"]
    assert grew == 79
    assert body["totals"]["active_installs"] - before.json()["totals"]["active_installs"] == 79
    earlier = before.json()["totals"]["revenue"].get("USD", {"gross": "0"})
    gross = Decimal(body["totals"]["revenue"]["USD"]["gross"]) - Decimal(earlier["gross"])
    assert gross == Decimal("1000.99")
    forbidden = await client.get(
        "/api/v1/admin/analytics/overview", headers=tokens.developer("pub-big")
    )
    assert forbidden.status_code == 403
    bad = await client.get(
        "/api/v1/admin/analytics/overview", params={"currency": "usd"}, headers=tokens.admin()
    )
    assert bad.status_code == 422
