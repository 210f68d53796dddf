"""HTTP schemas of the analytics API. Money is a decimal string (exact), per currency."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from opscenter.contracts.fields import Money

Interval = Literal["hour", "day"]


class RevenueAmounts(BaseModel):
    """What was charged; ``developer`` (70%) + ``platform`` (30%) == ``gross`` to the cent."""

    gross: Money
    developer: Money
    platform: Money
    charges: int = Field(description="charges with a non-zero amount")


class RatingPoint(BaseModel):
    average: float
    count: int


class MetricValues(BaseModel):
    """Only the requested metrics are present. Counters are sums over the bucket (0 when
    nothing happened); ``active_installs`` and ``rating`` are values at the bucket's end;
    latency percentiles are in milliseconds (null without deliveries), within 1% of the
    exact percentile."""

    installs: int | None = None
    uninstalls: int | None = None
    active_installs: int | None = None
    enables: int | None = None
    disables: int | None = None
    downloads: int | None = None
    hook_deliveries: int | None = None
    hook_failures: int | None = None
    hook_dead_letters: int | None = None
    hook_latency_p50: float | None = None
    hook_latency_p95: float | None = None
    hook_latency_p99: float | None = None
    rating: RatingPoint | None = None
    revenue: dict[str, RevenueAmounts] | None = Field(
        default=None, description="per ISO 4217 currency code"
    )


class SeriesPoint(MetricValues):
    bucket_start: datetime


class PluginAnalytics(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    plugin_id: UUID
    slug: str
    interval: Interval
    from_: datetime = Field(alias="from", description="start of the first bucket")
    to: datetime = Field(description="end of the range (exclusive)")
    version: str | None
    metrics: list[str]
    series: list[SeriesPoint]
    totals: MetricValues = Field(
        description="counters summed over the range, gauges at its end, percentiles of the "
        "range's merged sketch"
    )


Values = TypeVar("Values", bound=MetricValues)


def built_values(cls: type[Values], values: dict[str, Any]) -> Values:
    """``values`` (what ``metrics.service`` built) as ``cls``, constructed without validation:
    every value comes from typed columns (bigint, float8, numeric(20,2) summed as ``Decimal``)
    and the service's own arithmetic, and validating a year of points again was the series'
    largest CPU cost (``Money``'s validator alone, 1,095 calls; bench/RESULTS.md 2026-12-08).
    The fields set are those given, so ``exclude_unset`` still leaves out unrequested
    metrics; nested values are built as their models, so serializing them warns of nothing."""
    fields = dict(values)
    rating = fields.get("rating")
    if rating is not None:
        fields["rating"] = RatingPoint.model_construct(**rating)
    revenue = fields.get("revenue")
    if revenue is not None:
        fields["revenue"] = {c: RevenueAmounts.model_construct(**a) for c, a in revenue.items()}
    # pydantic types model_construct's result as the class it is declared on, not ``cls``.
    return cast(Values, cls.model_construct(**fields))


class RankedPlugin(BaseModel):
    plugin_id: UUID
    slug: str | None
    value: int


class RankedByRevenue(RevenueAmounts):
    plugin_id: UUID
    slug: str | None
    currency: str


class PlatformTotals(BaseModel):
    installs: int
    uninstalls: int
    enables: int
    disables: int
    downloads: int
    hook_deliveries: int
    hook_failures: int
    hook_dead_letters: int
    active_installs: int = Field(description="installed now (at the range's end)")
    revenue: dict[str, RevenueAmounts]


class AnalyticsOverview(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    top_by_installs: list[RankedPlugin]
    top_by_deliveries: list[RankedPlugin]
    top_by_revenue: list[RankedByRevenue]
    totals: PlatformTotals


def series_csv(answer: PluginAnalytics) -> str:
    """One row per bucket: ``bucket_start``, then each metric; ``rating`` becomes
    ``rating_average`` and ``rating_count``, ``revenue`` three columns per currency."""
    currencies = sorted({c for p in answer.series for c in (p.revenue or {})})
    header = ["bucket_start"]
    for name in answer.metrics:
        if name == "rating":
            header += ["rating_average", "rating_count"]
        elif name == "revenue":
            header += [f"revenue_{c}_{part}" for c in currencies for part in _MONEY_PARTS]
        else:
            header.append(name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for point in answer.series:
        row: list[Any] = [point.bucket_start.isoformat()]
        for name in answer.metrics:
            if name == "rating":
                row += (
                    ["", ""] if point.rating is None else [point.rating.average, point.rating.count]
                )
            elif name == "revenue":
                revenue = point.revenue or {}
                row += [
                    format(getattr(revenue[c], part), "f") if c in revenue else "0.00"
                    for c in currencies
                    for part in _MONEY_PARTS
                ]
            else:
                value = getattr(point, name)
                row.append("" if value is None else value)
        writer.writerow(row)
    return out.getvalue()


_MONEY_PARTS = ("gross", "developer", "platform")
