"""The install executor: carries out requested installs, upgrades and uninstalls.

It consumes the installer's own ``installer.installation`` events (purpose ``install-executor``),
so the work runs in the worker, not in the request, and survives crashes: the inbox claim, the
state changes and their events commit together, and a redelivered event finds the installation
no longer in the state that asked for work and does nothing.

Most events on the topic are the executor's own follow-ups (installed, enabled, failed, ...):
the consumer passes them over by their ``ce_type`` header, unparsed (``WORK_TYPES`` is its
filter); this handler skips any that still reach it. Consecutive install requests of a batch are
executed together (``execute_installs``: a few queries for the whole run); an upgrade or
uninstall request first executes the run before it, so requests keep their order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

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

#: The event types the executor acts on; every other type on the topic is a no-op.
WORK_TYPES = frozenset(
    cls.event_type
    for cls in (
        InstallationRequestedV1,
        InstallationUpgradeRequestedV1,
        InstallationUninstallRequestedV1,
    )
)


async def on_installation_events(
    session: AsyncSession,
    events: Sequence[CloudEvent],
    emit: Emit,
    executor: service.Executor,
) -> None:
    installs: list[uuid.UUID] = []
    for event in events:
        if event.type not in WORK_TYPES:
            continue
        try:
            payload = parse_payload(event)
        except UnknownEventType:
            continue
        if isinstance(payload, InstallationRequestedV1):
            installs.append(payload.installation_id)
            continue
        if installs:
            await service.execute_installs(session, emit, executor, installs)
            installs = []
        if isinstance(payload, InstallationUpgradeRequestedV1):
            await service.execute_upgrade(session, emit, executor, payload.installation_id)
        elif isinstance(payload, InstallationUninstallRequestedV1):
            await service.execute_uninstall(session, emit, payload.installation_id)
    if installs:
        await service.execute_installs(session, emit, executor, installs)
