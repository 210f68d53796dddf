"""Deliveries of one plugin: the list with every attempt, and replays (tenant admin)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from opscenter.hooks.deliveries import service
from opscenter.hooks.deliveries.schemas import (
    DeliveryPage,
    DeliveryRead,
    DeliveryStatus,
    ReplayAccepted,
    ReplayWindow,
)
from opscenter.hooks.deps import AdminOrDeveloper, PluginId, TenantAdmin
from opscenter.servicekit.auth import Principal, Role
from opscenter.servicekit.errors import Problem, field_error, problem_responses
from opscenter.servicekit.idempotency import IdempotencyKey
from opscenter.servicekit.pagination import decode_time_id_cursor, encode_cursor
from opscenter.servicekit.runtime import RuntimeDep
from opscenter.servicekit.uow import UnitOfWork
from opscenter.servicekit.writes import idempotent_write, operation

router = APIRouter(prefix="/plugins/{plugin_id}/hooks", tags=["deliveries"])

_READ = problem_responses(
    {
        401: "No or invalid bearer token",
        403: "Neither a tenant admin nor a developer",
        404: "No installation of this plugin in the caller's tenant, and not the caller's plugin",
        422: "Invalid filter or cursor; errors[] names it",
    }
)
_REPLAY = problem_responses(
    {
        401: "No or invalid bearer token",
        403: "Not a tenant admin",
        404: "No installation of this plugin (or no such delivery) in the caller's tenant",
        409: "The installation is not enabled, or the delivery is still pending",
        422: "Invalid body; errors[] names the fields",
    }
)


def _viewer(p: Principal) -> service.Viewer:
    return service.Viewer(p.tenant_id, p.has(Role.TENANT_ADMIN), p.publisher_id)


@router.get(
    "/deliveries",
    response_model=DeliveryPage,
    responses=_READ,
    summary="Deliveries of the plugin, newest first, each with every attempt",
)
async def list_deliveries(
    plugin_id: PluginId,
    runtime: RuntimeDep,
    principal: AdminOrDeveloper,
    status: DeliveryStatus | None = None,
    event_type: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="Created at or after")] = None,
    until: Annotated[datetime | None, Query(description="Created before")] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Problem(
                422,
                "validation-error",
                f"{name} needs a time zone",
                errors=[field_error(f"query.{name}", "needs a time zone")],
            )
    after = decode_time_id_cursor(cursor) if cursor else None
    async with runtime.sessions() as session:
        rows, more = await service.list_deliveries(
            session,
            plugin_id,
            _viewer(principal),
            service.DeliveryFilter(status, event_type, since, until),
            after,
            limit,
        )
    items = [DeliveryRead.of(d, attempts) for d, attempts in rows]
    next_cursor = (
        encode_cursor([items[-1].created_at.isoformat(), str(items[-1].id)])
        if more and items
        else None
    )
    return DeliveryPage(items=items, next_cursor=next_cursor)


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryRead,
    responses=_REPLAY,
    summary="Send one finished delivery again (a fresh retry schedule)",
)
async def replay_one(
    plugin_id: PluginId,
    delivery_id: Annotated[uuid.UUID, Path()],
    request: Request,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    tenant = principal.require_tenant()

    async def work(uow: UnitOfWork) -> tuple[int, DeliveryRead]:
        d = await service.replay_one(uow, plugin_id, tenant, delivery_id)
        return 202, DeliveryRead.of(d, [])

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, None, work
    )


@router.post(
    "/replay",
    status_code=202,
    response_model=ReplayAccepted,
    responses=_REPLAY,
    summary="Send again every finished delivery of a time window",
)
async def replay_window(
    plugin_id: PluginId,
    body: ReplayWindow,
    request: Request,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    tenant = principal.require_tenant()

    async def work(uow: UnitOfWork) -> tuple[int, ReplayAccepted]:
        count = await service.replay_window(
            uow, plugin_id, tenant, body.since, body.until, body.status
        )
        return 202, ReplayAccepted(count=count)

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, body.model_dump(mode="json"), work
    )
