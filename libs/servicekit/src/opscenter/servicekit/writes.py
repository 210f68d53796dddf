"""The one way an endpoint performs a write: a unit of work guarded by `Idempotency-Key`.

A retry with the same key and request gets the first answer again; the key's answer and the
write's effect (rows and outbox events) commit together. A refusal (a `Problem` raised by the
work) rolls everything back and stores nothing, so it changes nothing and may be retried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from opscenter.servicekit.auth import Principal
from opscenter.servicekit.idempotency import fingerprint
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.uow import UnitOfWork

Work = Callable[[UnitOfWork], Awaitable[tuple[int, Any]]]


def operation(request: Request) -> str:
    """The method and concrete path of a request ("PUT /api/v1/admin/plugins/grafana/verify"):
    the usual `operation` of an idempotent write."""
    return f"{request.method} {request.url.path}"


MAX_SCOPE = 300  # idempotency_keys.scope


def bounded_scope(scope: str) -> str:
    """The scope as stored: itself when it fits the column, else its sha-256 (a long path, up to
    the gateway's 32 KiB request line, must not turn a write into a database error)."""
    if len(scope) <= MAX_SCOPE:
        return scope
    return "sha256:" + hashlib.sha256(scope.encode("utf-8", "surrogatepass")).hexdigest()


async def idempotent_write(
    runtime: ServiceRuntime,
    principal: Principal,
    operation: str,
    key: str | None,
    request_parts: Any,
    work: Work,
) -> Response:
    """Runs `work` (returning `(status, body)`) once per key.

    `operation` names what is being done to which object (for example
    "POST /plugins/grafana/enable"); with the caller's identity it scopes the key, so one key
    reused for another object or by another user is a new request. `request_parts` is what makes
    two requests the same request (usually the body).
    """
    scope = bounded_scope(f"{principal.subject}:{principal.tenant_id or '-'}:{operation}")
    # Without a key nothing is stored or compared: the request is not fingerprinted.
    request_hash = "" if key is None else fingerprint(operation, jsonable_encoder(request_parts))
    async with runtime.uow() as uow:
        replay = await runtime.idempotency.begin(uow.session, scope, key, request_hash)
        if replay is not None:
            return replay.response()
        status, body = await work(uow)
        encoded = jsonable_encoder(body)
        await runtime.idempotency.finish(uow.session, scope, key, status, encoded)
        await uow.commit()
    if encoded is None:
        return Response(status_code=status)
    return JSONResponse(encoded, status_code=status)
