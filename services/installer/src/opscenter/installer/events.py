"""How services hand events to the outbox, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import EventPayload
from opscenter.servicekit.outbox import Outbox
from opscenter.servicekit.uow import UnitOfWork

Emit = Callable[[EventPayload, str], Awaitable[object]]


def uow_emitter(uow: UnitOfWork) -> Emit:
    async def emit(payload: EventPayload, tenant_id: str) -> object:
        return await uow.emit(payload, tenant_id=tenant_id)

    return emit


def session_emitter(outbox: Outbox, session: AsyncSession) -> Emit:
    async def emit(payload: EventPayload, tenant_id: str) -> object:
        return await outbox.add(session, payload, tenant_id=tenant_id)

    return emit
