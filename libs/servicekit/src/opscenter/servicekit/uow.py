"""Unit of work: the only place that commits.

Repositories may flush, never commit. Events are added through `emit`, so they land in the outbox
inside the same transaction as the rows they describe.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opscenter.contracts import CloudEvent, EventPayload
from opscenter.servicekit.outbox import Outbox


class UnitOfWork:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside `async with`")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        await self._session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if session.in_transaction():
                await session.rollback()
        finally:
            await session.close()
            self._session = None

    async def emit(
        self, payload: EventPayload, *, tenant_id: str | None = None, subject: str | None = None
    ) -> CloudEvent:
        return await self._outbox.add(self.session, payload, tenant_id=tenant_id, subject=subject)

    async def commit(self) -> None:
        await self.session.commit()
