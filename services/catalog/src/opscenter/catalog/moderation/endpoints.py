"""Moderation endpoints (platform_admin; yank and deprecate also by the owning developer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from opscenter.catalog.deps import PluginRef, VersionPath
from opscenter.catalog.models import ModerationEntry
from opscenter.catalog.moderation import service
from opscenter.catalog.moderation.schemas import (
    BanRequest,
    DeprecateRequest,
    FeatureRequest,
    ModerationEntryRead,
    ModerationLog,
    VerifyRequest,
    YankedVersion,
    YankRequest,
)
from opscenter.catalog.plugins.schemas import PluginRead
from opscenter.servicekit.auth import Principal, Role, require_roles
from opscenter.servicekit.errors import Problem, field_error, problem_responses
from opscenter.servicekit.idempotency import IdempotencyKey
from opscenter.servicekit.pagination import decode_time_id_cursor, encode_cursor
from opscenter.servicekit.runtime import RuntimeDep
from opscenter.servicekit.uow import UnitOfWork
from opscenter.servicekit.writes import idempotent_write, operation

router = APIRouter(prefix="/admin/plugins", tags=["moderation"])

Admin = Annotated[Principal, Depends(require_roles(Role.PLATFORM_ADMIN))]
AdminOrDeveloper = Annotated[Principal, Depends(require_roles(Role.PLATFORM_ADMIN, Role.DEVELOPER))]

_REFUSALS = {
    401: "No or invalid bearer token",
    403: "The role does not allow this",
    404: "No such plugin (or version), or not yours",
    422: "Invalid body; errors[] names the fields",
}
_PROBLEMS = problem_responses(_REFUSALS)
_FEATURE_PROBLEMS = problem_responses({**_REFUSALS, 409: "A banned plugin cannot be featured"})


def _actor(p: Principal) -> service.Actor:
    return service.Actor(
        subject=p.subject, is_admin=p.has(Role.PLATFORM_ADMIN), publisher_id=p.publisher_id
    )


@router.put("/{id}/verify", response_model=PluginRead, responses=_PROBLEMS)
async def verify(
    id: PluginRef,
    body: VerifyRequest,
    request: Request,
    runtime: RuntimeDep,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, PluginRead]:
        return 200, PluginRead.of(await service.verify(uow, id, _actor(principal), body))

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, body.model_dump(mode="json"), work
    )


@router.put("/{id}/feature", response_model=PluginRead, responses=_FEATURE_PROBLEMS)
async def feature(
    id: PluginRef,
    body: FeatureRequest,
    request: Request,
    runtime: RuntimeDep,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, PluginRead]:
        plugin = await service.feature(uow, id, _actor(principal), body)
        return 200, PluginRead.of(plugin, now=datetime.now(plugin.updated_at.tzinfo))

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, body.model_dump(mode="json"), work
    )


@router.delete(
    "/{id}/ban",
    response_model=PluginRead,
    responses=_PROBLEMS,
    summary="Ban a plugin: it leaves listings and search, and every installation is disabled",
    description="The reason comes as the `reason` query parameter or a JSON body `{reason}`.",
)
async def ban(
    id: PluginRef,
    request: Request,
    runtime: RuntimeDep,
    principal: Admin,
    reason: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
    body: Annotated[BanRequest | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    text = (body.reason if body else None) or (reason.strip() if reason else None)
    if not text:
        raise Problem(
            422,
            "validation-error",
            "A ban needs a reason",
            errors=[field_error("body.reason", "is required")],
        )

    async def work(uow: UnitOfWork) -> tuple[int, PluginRead]:
        return 200, PluginRead.of(await service.ban(uow, id, _actor(principal), text))

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, text, work
    )


@router.put(
    "/{id}/versions/{version}/yank",
    response_model=YankedVersion,
    responses=_PROBLEMS,
    summary="Yank a version: no new installs; exact pins still resolve",
)
async def yank(
    id: PluginRef,
    version: VersionPath,
    body: YankRequest,
    request: Request,
    runtime: RuntimeDep,
    principal: AdminOrDeveloper,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, YankedVersion]:
        return 200, await service.yank(uow, id, version, _actor(principal), body.reason)

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, body.model_dump(), work
    )


@router.put(
    "/{id}/deprecate",
    response_model=PluginRead,
    responses=_PROBLEMS,
    summary="Deprecate a plugin, optionally naming its replacement",
)
async def deprecate(
    id: PluginRef,
    body: DeprecateRequest,
    request: Request,
    runtime: RuntimeDep,
    principal: AdminOrDeveloper,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, PluginRead]:
        return 200, PluginRead.of(await service.deprecate(uow, id, _actor(principal), body))

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, body.model_dump(), work
    )


@router.get(
    "/{id}/moderation",
    response_model=ModerationLog,
    responses=_PROBLEMS,
    summary="The plugin's moderation log, newest first",
)
async def moderation_log(
    id: PluginRef,
    runtime: RuntimeDep,
    principal: Admin,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ModerationLog:
    after = None
    if cursor:
        after = decode_time_id_cursor(cursor)
    async with runtime.uow() as uow:
        rows = await service.moderation_log(uow, id, after=after, limit=limit + 1)
        page = rows[:limit]
        return _log_page(page, more=len(rows) > limit)


def _log_page(page: Sequence[ModerationEntry], *, more: bool) -> ModerationLog:
    return ModerationLog(
        items=[
            ModerationEntryRead(
                id=e.id,
                action=e.action,
                version=e.version,
                actor_id=e.actor_id,
                reason=e.reason,
                details=e.details,
                created_at=e.created_at,
            )
            for e in page
        ],
        next_cursor=encode_cursor([page[-1].created_at.isoformat(), str(page[-1].id)])
        if more
        else None,
    )
