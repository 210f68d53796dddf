"""What reviews keeps of other services' events: which plugins exist, who publishes them and
whether they are banned (``catalog.plugin``), and which tenant installed which plugin at which
version (``installer.installation``). Each event applies once (the consumer's inbox) and an
installation's older transitions never overwrite newer ones (``sequence``)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TypeAlias

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    InstallationDisabledV1,
    InstallationEnabledV1,
    InstallationInstalledV1,
    InstallationUninstalledV1,
    InstallationUpgradedV1,
    PluginBannedV1,
    PluginRegisteredV1,
    PluginUpdatedV1,
)
from opscenter.reviews.projections import repository as repo

log = logging.getLogger(__name__)

InstallationTransition: TypeAlias = (
    InstallationInstalledV1
    | InstallationEnabledV1
    | InstallationDisabledV1
    | InstallationUpgradedV1
    | InstallationUninstalledV1
)
#: The transitions that say whether a tenant has the plugin installed, and at which version.
INSTALLATION_EVENTS = (
    InstallationInstalledV1,
    InstallationEnabledV1,
    InstallationDisabledV1,
    InstallationUpgradedV1,
    InstallationUninstalledV1,
)


async def apply_listing(session: AsyncSession, event: PluginRegisteredV1 | PluginUpdatedV1) -> None:
    await repo.upsert_plugin(
        session, plugin_id=event.plugin_id, slug=event.slug, publisher_id=event.publisher_id
    )


async def apply_ban(session: AsyncSession, event: PluginBannedV1, at: datetime) -> None:
    """From now on the plugin's reviews are frozen (writes answer 410)."""
    if not await repo.ban_plugin(session, event.plugin_id, at=at, reason=event.reason):
        log.info("ban of an unknown or already banned plugin", extra={"slug": event.slug})


async def apply_installation(session: AsyncSession, event: InstallationTransition) -> None:
    """Installed, enabled, disabled and upgraded leave the plugin installed (at ``version``);
    uninstalled does not. The row stays after an uninstall: the tenant *had* the plugin."""
    await repo.apply_installation(
        session,
        installation_id=event.installation_id,
        tenant_id=event.tenant_id,
        plugin_id=event.plugin_id,
        version=event.version,
        installed=not isinstance(event, InstallationUninstalledV1),
        sequence=event.sequence,
    )
