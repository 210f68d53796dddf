"""``/plugins/...`` endpoints of the installer; each acts on the caller's tenant (JWT)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, Response

from opscenter.contracts.fields import SLUG_MAX_LENGTH, SLUG_MIN_LENGTH, SLUG_PATTERN
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
    InstallationPage,
    InstallationRead,
    InstallCreate,
    UninstallCreate,
    UpgradeCreate,
)
from opscenter.servicekit.errors import problem_responses
from opscenter.servicekit.idempotency import IdempotencyKey
from opscenter.servicekit.runtime import RuntimeDep
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


@router.post("/install", status_code=202, responses=_PROBLEMS)
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

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        emit = uow_emitter(uow)
        return await service.install(uow.session, emit, cipher, tenant, principal.subject, body)

    if body.dry_run:
        async with runtime.sessions() as session:
            status, answer = await service.install(
                session, _no_emit, cipher, tenant, principal.subject, body
            )
        return JSONResponse(answer, status_code=status)
    return await idempotent_write(
        runtime, principal, "install", idempotency_key, body.model_dump(mode="json"), work
    )


async def _no_emit(*_: object) -> None:
    raise RuntimeError("a dry run emits nothing")


@router.post("/{plugin}/enable", responses=_PROBLEMS)
async def enable(
    plugin: PluginRef,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Enables the plugin (its dependencies must be enabled): 200 with the new state."""
    return await _run(runtime, principal, cipher, "enable", plugin, idempotency_key, None)


@router.post("/{plugin}/disable", responses=_PROBLEMS)
async def disable(
    plugin: PluginRef,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    body: Annotated[DisableCreate | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Disables the plugin; 409 naming enabled dependents unless ``cascade=disable``."""
    return await _run(
        runtime, principal, cipher, "disable", plugin, idempotency_key, body or DisableCreate()
    )


@router.post("/{plugin}/uninstall", status_code=202, responses=_PROBLEMS)
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
    return await _run(runtime, principal, cipher, "uninstall", plugin, idempotency_key, chosen)


@router.put("/{plugin}/config", responses=_PROBLEMS)
async def update_config(
    plugin: PluginRef,
    body: ConfigUpdate,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Replaces the config (secrets omitted or masked are kept): 200; 422 with field errors."""
    return await _run(runtime, principal, cipher, "config", plugin, idempotency_key, body)


@router.post("/{plugin}/upgrade", status_code=202, responses=_PROBLEMS)
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
    return await _run(runtime, principal, cipher, "upgrade", plugin, idempotency_key, body)


_ACTIONS: dict[str, tuple[Any, int]] = {
    "enable": (service.enable, 200),
    "disable": (service.disable, 200),
    "uninstall": (service.uninstall, 202),
    "config": (service.update_config, 200),
    "upgrade": (service.upgrade, 202),
}


async def _run(
    runtime: Any,
    principal: Any,
    cipher: Any,
    action: str,
    plugin: str,
    key: str | None,
    body: Any,
) -> Response:
    fn, status = _ACTIONS[action]
    tenant = principal.require_tenant()

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        args = (uow.session, uow_emitter(uow), cipher, tenant, principal.subject, plugin)
        result = await (fn(*args, body) if body is not None else fn(*args))
        return status, result

    payload = body.model_dump(mode="json") if body is not None else None
    return await idempotent_write(runtime, principal, f"{action}:{plugin}", key, payload, work)
