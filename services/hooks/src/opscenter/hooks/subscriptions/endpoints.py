"""An installation's webhook endpoint and signing secret (tenant admin of its tenant)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opscenter.hooks.deps import CipherDep, PluginId, SettingsDep, TenantAdmin, overlap
from opscenter.hooks.subscriptions import service
from opscenter.hooks.subscriptions.schemas import EndpointUpdate, SecretRotated, SubscriptionRead
from opscenter.servicekit.errors import problem_responses
from opscenter.servicekit.idempotency import IdempotencyKey
from opscenter.servicekit.runtime import RuntimeDep
from opscenter.servicekit.uow import UnitOfWork
from opscenter.servicekit.writes import idempotent_write, operation

router = APIRouter(prefix="/plugins/{plugin_id}/hooks", tags=["webhook endpoint"])

_PROBLEMS = problem_responses(
    {
        401: "No or invalid bearer token",
        403: "Not a tenant admin",
        404: "No installation of this plugin in the caller's tenant",
        422: "Invalid body; errors[] names the fields",
    }
)


@router.post(
    "/secret/rotate",
    response_model=SecretRotated,
    responses=_PROBLEMS,
    summary="A new webhook signing secret; the previous one keeps signing for 24 hours",
    description="The secret is shown only in this answer (and to a retry with the same "
    "Idempotency-Key); it is stored encrypted.",
)
async def rotate_secret(
    plugin_id: PluginId,
    request: Request,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    cipher: CipherDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    tenant = principal.require_tenant()

    async def work(uow: UnitOfWork) -> tuple[int, SecretRotated]:
        r = await service.rotate_secret(uow, plugin_id, tenant, cipher, overlap(settings))
        return 200, SecretRotated(
            installation_id=r.installation_id,
            secret=r.secret,
            previous_valid_until=r.previous_valid_until,
        )

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, None, work
    )


@router.put(
    "/endpoint",
    response_model=SubscriptionRead,
    responses=_PROBLEMS,
    summary="Set the URL every webhook hook of the installation is sent to",
    description="Setting it also re-enables an endpoint that a 410 Gone disabled.",
)
async def set_endpoint(
    plugin_id: PluginId,
    body: EndpointUpdate,
    request: Request,
    runtime: RuntimeDep,
    principal: TenantAdmin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    tenant = principal.require_tenant()

    async def work(uow: UnitOfWork) -> tuple[int, SubscriptionRead]:
        sub = await service.set_endpoint(uow, plugin_id, tenant, body.url)
        return 200, SubscriptionRead.of(sub)

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, body.model_dump(), work
    )
