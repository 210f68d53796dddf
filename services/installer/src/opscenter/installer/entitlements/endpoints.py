"""The billing integration point: ``POST /admin/entitlements``.

An operator's billing system (there is no card processor in this suite) calls it with a
``platform_admin`` token after a tenant paid; the entitlement becomes active at once and
``EntitlementChangedV1`` carries the 70/30 split to analytics.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from opscenter.installer.catalog import repository as catalog
from opscenter.installer.deps import PlatformAdmin
from opscenter.installer.entitlements import service
from opscenter.installer.events import uow_emitter
from opscenter.installer.installations.schemas import EntitlementCreate
from opscenter.servicekit.errors import Problem, field_error, problem_responses
from opscenter.servicekit.idempotency import IdempotencyKey
from opscenter.servicekit.runtime import RuntimeDep
from opscenter.servicekit.uow import UnitOfWork
from opscenter.servicekit.writes import idempotent_write

router = APIRouter(prefix="/admin/entitlements", tags=["entitlements"])


@router.post(
    "",
    status_code=201,
    responses=problem_responses({404: "No such plugin", 422: "Invalid plan or period"}),
)
async def grant_entitlement(
    body: EntitlementCreate,
    runtime: RuntimeDep,
    principal: PlatformAdmin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Activates a paid plan for a tenant: 201 with the ledger row (gross and the split)."""

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        plugin = await catalog.plugin_snapshot(uow.session, body.plugin)
        if plugin is None:
            raise Problem(
                404,
                "not-found",
                f"Unknown plugin {body.plugin!r}",
                errors=[field_error("body.plugin", "is not a known plugin")],
            )
        if body.kind != "lifetime" and body.period_end is None:
            raise Problem(
                422,
                "validation-error",
                "A subscription needs period_end",
                errors=[field_error("period_end", "is required for monthly and yearly")],
            )
        if body.period_end is not None and body.period_end <= service.now():
            raise Problem(
                422,
                "validation-error",
                "period_end must be in the future",
                errors=[field_error("period_end", "must be in the future")],
            )
        row = await service.grant(
            uow.session,
            uow_emitter(uow),
            tenant_id=body.tenant_id,
            plugin_id=plugin.plugin_id,
            slug=plugin.slug,
            kind=body.kind,
            period_end=body.period_end if body.kind != "lifetime" else None,
            gross=body.gross,
            currency=body.currency,
            source=f"billing:{principal.subject}",
        )
        return 201, {
            "tenant_id": body.tenant_id,
            "plugin": plugin.slug,
            **(service.describe(row) or {}),
        }

    return await idempotent_write(
        runtime, principal, "entitlements", idempotency_key, body.model_dump(mode="json"), work
    )
