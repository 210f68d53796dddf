"""Typed FastAPI dependencies and the write helper every mutating endpoint uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from opscenter.installer.config import ConfigCipher
from opscenter.installer.events import Emit, uow_emitter
from opscenter.servicekit.auth import Principal, Role, require_roles
from opscenter.servicekit.idempotency import fingerprint
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.uow import UnitOfWork


def get_cipher(request: Request) -> ConfigCipher:
    cipher: ConfigCipher = request.app.state.cipher
    return cipher


CipherDep = Annotated[ConfigCipher, Depends(get_cipher)]
TenantAdmin = Annotated[Principal, Depends(require_roles(Role.TENANT_ADMIN))]
Member = Annotated[Principal, Depends(require_roles(Role.MEMBER, Role.TENANT_ADMIN))]
PlatformAdmin = Annotated[Principal, Depends(require_roles(Role.PLATFORM_ADMIN))]
PluginRef = Annotated[
    str,
    Path(min_length=1, max_length=64, description="The plugin's UUID or slug"),
]

Work = Callable[[UnitOfWork, Emit], Awaitable[tuple[int, Any]]]


async def idempotent_write(
    runtime: ServiceRuntime,
    principal: Principal,
    route: str,
    key: str | None,
    request_body: Any,
    work: Work,
) -> JSONResponse:
    """Runs ``work`` in one unit of work guarded by ``Idempotency-Key``: a retry with the same
    key and body answers the first (successful) answer again; a refusal stores nothing, so it
    changes nothing and may be retried."""
    scope = f"{principal.subject}:{principal.tenant_id or '-'}:{route}"
    async with runtime.uow() as uow:
        replay = await runtime.idempotency.begin(
            uow.session, scope, key, fingerprint(route, jsonable_encoder(request_body))
        )
        if replay is not None:
            return replay.response()
        status, body = await work(uow, uow_emitter(uow))
        encoded = jsonable_encoder(body)
        await runtime.idempotency.finish(uow.session, scope, key, status, encoded)
        await uow.commit()
    return JSONResponse(encoded, status_code=status)
