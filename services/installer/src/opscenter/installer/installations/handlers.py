"""The install executor: carries out requested installs, upgrades and uninstalls.

It consumes the installer's own ``installer.installation`` events (purpose ``install-executor``),
so the work runs in the worker, not in the request, and survives crashes: the inbox claim, the
state changes and their events commit together, and a redelivered event finds the installation
no longer in the state that asked for work and does nothing.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    CloudEvent,
    InstallationRequestedV1,
    InstallationUninstallRequestedV1,
    InstallationUpgradeRequestedV1,
    UnknownEventType,
    parse_payload,
)
from opscenter.installer.events import Emit
from opscenter.installer.installations import service


async def on_installation_event(
    session: AsyncSession, event: CloudEvent, emit: Emit, executor: service.Executor
) -> None:
    try:
        payload = parse_payload(event)
    except UnknownEventType:
        return
    if isinstance(payload, InstallationRequestedV1):
        await service.execute_install(session, emit, executor, payload.installation_id)
    elif isinstance(payload, InstallationUpgradeRequestedV1):
        await service.execute_upgrade(session, emit, executor, payload.installation_id)
    elif isinstance(payload, InstallationUninstallRequestedV1):
        await service.execute_uninstall(session, emit, payload.installation_id)
