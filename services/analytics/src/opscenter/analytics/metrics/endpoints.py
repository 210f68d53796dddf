"""Analytics endpoints: a plugin's series (its developer or a platform admin) and the platform
overview (platform admins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response

from opscenter.analytics.deps import PluginRef, SettingsDep
from opscenter.analytics.metrics import service
from opscenter.analytics.metrics.schemas import (
    AnalyticsOverview,
    Interval,
    MetricValues,
    PluginAnalytics,
    SeriesPoint,
    built_values,
    series_csv,
)
from opscenter.servicekit.auth import Principal, Role, require_roles
from opscenter.servicekit.errors import problem_responses
from opscenter.servicekit.runtime import RuntimeDep

_NAMES = "|".join(service.METRICS)

router = APIRouter(tags=["analytics"])

Admin = Annotated[Principal, Depends(require_roles(Role.PLATFORM_ADMIN))]
DeveloperOrAdmin = Annotated[Principal, Depends(require_roles(Role.PLATFORM_ADMIN, Role.DEVELOPER))]

From = Annotated[
    datetime | None,
    Query(
        alias="from",
        description="Start (ISO 8601; UTC when no offset), floored to its bucket. "
        "Default: 30 days (day) or 24 hours (hour) before `to`.",
    ),
]
To = Annotated[
    datetime | None,
    Query(description="End, exclusive (ISO 8601; UTC when no offset). Default: now."),
]
IntervalQuery = Annotated[Interval, Query(description="Bucket size")]

CSV = "text/csv"
JSON = "application/json"

_SERIES_PROBLEMS = problem_responses(
    {
        401: "No or invalid bearer token",
        403: "Neither a developer nor a platform admin",
        404: "No such plugin, or not the caller's",
        422: "Bad range, interval, metric or version; errors[] names the parameter",
    }
)
_OVERVIEW_PROBLEMS = problem_responses(
    {
        401: "No or invalid bearer token",
        403: "Not a platform admin",
        422: "Bad range or parameter; errors[] names it",
    }
)


def _viewer(principal: Principal) -> service.Viewer:
    return service.Viewer(
        is_admin=principal.has(Role.PLATFORM_ADMIN), publisher_id=principal.publisher_id
    )


@router.get(
    "/plugins/{id}/analytics",
    response_model=PluginAnalytics,
    response_model_exclude_unset=True,
    responses={
        200: {"content": {CSV: {"schema": {"type": "string"}}}},
        **_SERIES_PROBLEMS,
    },
    summary="A plugin's metrics as a time series (JSON; CSV with format=csv or Accept: text/csv)",
)
async def plugin_analytics(
    id: PluginRef,
    runtime: RuntimeDep,
    settings: SettingsDep,
    principal: DeveloperOrAdmin,
    from_: From = None,
    to: To = None,
    interval: IntervalQuery = "day",
    metrics: Annotated[
        str | None,
        Query(
            max_length=1000,
            # The shape every accepted list has (the server also forgives spaces and empty parts).
            json_schema_extra={"pattern": f"^({_NAMES})(,({_NAMES}))*$"},
            description="Comma-separated metric names; default every metric "
            f"(per version: those a version has). Known: {', '.join(service.METRICS)}",
        ),
    ] = None,
    version: Annotated[
        str | None, Query(min_length=1, max_length=256, description="Only this version")
    ] = None,
    format: Annotated[Literal["json", "csv"] | None, Query(description="Answer format")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    query = service.SeriesQuery(from_, to, interval, metrics, version)
    async with runtime.uow() as uow:
        series = await service.plugin_series(
            uow, id, _viewer(principal), query, settings, datetime.now(UTC)
        )
    # Built, not validated (``built_values``): the service's values are typed already.
    answer = PluginAnalytics.model_construct(
        plugin_id=series.plugin.plugin_id,
        slug=series.plugin.slug,
        interval=series.interval,
        from_=series.start,
        to=series.end,
        version=series.version,
        metrics=series.metrics,
        series=[built_values(SeriesPoint, point) for point in series.points],
        totals=built_values(MetricValues, series.totals),
    )
    wants_csv = format == "csv" or (
        format is None and accept is not None and CSV in accept and "json" not in accept
    )
    if wants_csv:
        filename = f"{series.plugin.slug}-{series.interval}-analytics.csv"
        return Response(
            series_csv(answer),
            media_type=f"{CSV}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    # Serialized once here: returned as a model, FastAPI would validate the year's points again
    # against the response model and walk them with its encoder (most of the answer's CPU).
    return Response(answer.model_dump_json(by_alias=True, exclude_unset=True), media_type=JSON)


@router.get(
    "/admin/analytics/overview",
    response_model=AnalyticsOverview,
    responses=_OVERVIEW_PROBLEMS,
    summary="Top plugins by installs, hook deliveries and revenue, and platform totals",
)
async def analytics_overview(
    runtime: RuntimeDep,
    settings: SettingsDep,
    principal: Admin,
    from_: From = None,
    to: To = None,
    currency: Annotated[
        str, Query(pattern=r"^[A-Z]{3}$", description="Currency that ranks by revenue")
    ] = "USD",
    limit: Annotated[int, Query(ge=1, le=100, description="Plugins per ranking")] = 10,
) -> AnalyticsOverview:
    query = service.SeriesQuery(from_, to, "day", None, None)
    async with runtime.uow() as uow:
        found = await service.overview(uow, query, currency, limit, settings, datetime.now(UTC))
    return AnalyticsOverview.model_validate(
        {
            "from": found.start,
            "to": found.end,
            "top_by_installs": found.top_by_installs,
            "top_by_deliveries": found.top_by_deliveries,
            "top_by_revenue": found.top_by_revenue,
            "totals": found.totals,
        }
    )
