"""``/plugins/...`` endpoints of the installer; each acts on the caller's tenant (JWT)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from opscenter.contracts.fields import SLUG_MAX_LENGTH, SLUG_MIN_LENGTH, SLUG_PATTERN
from opscenter.installer.config import ConfigCipher
from opscenter.installer.deps import (
    CipherDep,
    Member,
    PluginRef,
    TenantAdmin,
)
from opscenter.installer.events import uow_emitter
from opscenter.installer.installations import service
from opscenter.installer.installations.schemas import (
    ConfigUpdate,
    DisableCreate,
    DryRunPlan,
    InstallAccepted,
    InstallationPage,
    InstallationRead,
    InstallCreate,
    UninstallCreate,
    UpgradeCreate,
)
from opscenter.installer.installations.service import TenantAction
from opscenter.servicekit.auth import Principal
from opscenter.servicekit.errors import problem_responses
from opscenter.servicekit.idempotency import IdempotencyKey
from opscenter.servicekit.runtime import RuntimeDep, ServiceRuntime
from opscenter.servicekit.uow import UnitOfWork
from opscenter.servicekit.writes import idempotent_write

router = APIRouter(prefix="/plugins", tags=["installations"])

_PROBLEMS = problem_responses(
    {
        404: "No such plugin or installation in your tenant",
        409: "Not allowed in the current state / conflicting constraints",
        410: "The plugin was banned",
        422: "Missing consent, invalid config or invalid request",
    }
)


@router.get("/installed", response_model=InstallationPage)
async def list_installed(
    runtime: RuntimeDep,
    principal: Member,
    cipher: CipherDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            min_length=SLUG_MIN_LENGTH,
            max_length=SLUG_MAX_LENGTH,
            pattern=SLUG_PATTERN,
            description="next_cursor of the previous page",
        ),
    ] = None,
) -> dict[str, Any]:
    tenant = principal.require_tenant()
    async with runtime.sessions() as session:
        return await service.list_page(session, cipher, tenant, cursor=cursor, limit=limit)


@router.get("/{plugin}/installation", response_model=InstallationRead, responses=_PROBLEMS)
async def get_installation(
    plugin: PluginRef, runtime: RuntimeDep, principal: Member, cipher: CipherDep
) -> dict[str, Any]:
    tenant = principal.require_tenant()
    async with runtime.sessions() as session:
        return await service.get_one(session, cipher, tenant, plugin)


@router.post(
    "/install",
    status_code=202,
    response_model=InstallAccepted,
    responses={
        200: {"model": DryRunPlan, "description": "dry_run: the plan; nothing changed"},
        **_PROBLEMS,
    },
)
async def install(
    body: InstallCreate,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Resolves the dependency plan; ``dry_run`` answers 200 with it and changes nothing,
    otherwise 202 with the installation and the plan (the worker installs it)."""
    tenant = principal.require_tenant()
    if body.dry_run:
        async with runtime.sessions() as session:
            action = TenantAction(session, _no_emit, cipher, tenant, principal.subject)
            status, answer = await service.install(action, body)
        return JSONResponse(answer, status_code=status)

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        return await service.install(_action(uow, cipher, principal), body)

    return await idempotent_write(
        runtime, principal, "install", idempotency_key, body.model_dump(mode="json"), work
    )


async def _no_emit(*_: object) -> None:
    raise RuntimeError("a dry run emits nothing")


@router.post("/{plugin}/enable", response_model=InstallationRead, responses=_PROBLEMS)
async def enable(
    plugin: PluginRef,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Enables the plugin (its dependencies must be enabled): 200 with the new state."""

    async def act(action: TenantAction) -> dict[str, Any]:
        return await service.enable(action, plugin)

    return await _write(
        runtime, principal, cipher, f"enable:{plugin}", idempotency_key, None, 200, act
    )


@router.post("/{plugin}/disable", response_model=InstallationRead, responses=_PROBLEMS)
async def disable(
    plugin: PluginRef,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    body: Annotated[DisableCreate | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Disables the plugin; 409 naming enabled dependents unless ``cascade=disable``."""
    chosen = body or DisableCreate()

    async def act(action: TenantAction) -> dict[str, Any]:
        return await service.disable(action, plugin, chosen)

    return await _write(
        runtime, principal, cipher, f"disable:{plugin}", idempotency_key, chosen, 200, act
    )


@router.post(
    "/{plugin}/uninstall", status_code=202, response_model=InstallationRead, responses=_PROBLEMS
)
async def uninstall(
    plugin: PluginRef,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    body: Annotated[UninstallCreate | None, Body()] = None,
    cascade: Annotated[str | None, Query(pattern="^(none|disable|uninstall)$")] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Uninstalls (202; the worker finishes it); 409 listing dependents unless ``cascade``
    (body or query) is ``disable`` or ``uninstall``."""
    chosen = body or UninstallCreate()
    if cascade is not None:
        chosen = UninstallCreate.model_validate({"cascade": cascade})

    async def act(action: TenantAction) -> dict[str, Any]:
        return await service.uninstall(action, plugin, chosen)

    return await _write(
        runtime, principal, cipher, f"uninstall:{plugin}", idempotency_key, chosen, 202, act
    )


@router.put("/{plugin}/config", response_model=InstallationRead, responses=_PROBLEMS)
async def update_config(
    plugin: PluginRef,
    body: ConfigUpdate,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Replaces the config (secrets omitted or masked are kept): 200; 422 with field errors."""

    async def act(action: TenantAction) -> dict[str, Any]:
        return await service.update_config(action, plugin, body)

    return await _write(
        runtime, principal, cipher, f"config:{plugin}", idempotency_key, body, 200, act
    )


@router.post(
    "/{plugin}/upgrade", status_code=202, response_model=InstallationRead, responses=_PROBLEMS
)
async def upgrade(
    plugin: PluginRef,
    body: UpgradeCreate,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Starts an upgrade (202); new permissions need consent; on failure the old version stays
    in the state it had."""

    async def act(action: TenantAction) -> dict[str, Any]:
        return await service.upgrade(action, plugin, body)

    return await _write(
        runtime, principal, cipher, f"upgrade:{plugin}", idempotency_key, body, 202, act
    )


def _action(uow: UnitOfWork, cipher: ConfigCipher, principal: Principal) -> TenantAction:
    return TenantAction(
        uow.session, uow_emitter(uow), cipher, principal.require_tenant(), principal.subject
    )


async def _write(
    runtime: ServiceRuntime,
    principal: Principal,
    cipher: ConfigCipher,
    operation: str,
    key: str | None,
    body: BaseModel | None,
    status: int,
    act: Callable[[TenantAction], Awaitable[dict[str, Any]]],
) -> Response:
    """Runs ``act`` as an idempotent write of the caller's tenant, answering ``status``.
    ``operation`` names the action and its object (it scopes the Idempotency-Key)."""
    principal.require_tenant()

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        return status, await act(_action(uow, cipher, principal))

    payload = body.model_dump(mode="json") if body is not None else None
    return await idempotent_write(runtime, principal, operation, key, payload, work)
