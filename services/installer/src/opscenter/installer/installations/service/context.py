"""What every tenant action is given: one object instead of the same five parameters."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.installer.config import ConfigCipher
from opscenter.installer.events import Emit


@dataclass(frozen=True)
class TenantAction:
    """An action of ``actor`` in ``tenant_id``: the unit of work's session and its event sink
    (``events.uow_emitter``), and the cipher of the tenant's config secrets."""

    session: AsyncSession
    emit: Emit
    cipher: ConfigCipher
    tenant_id: str
    actor: str
