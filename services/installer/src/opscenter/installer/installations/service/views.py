"""What the API shows of installations: one, with its history and consents, or a page.

A view needs, besides the installation's row, its installed version (config schema,
dependencies), its current entitlement and the tenant's other installations (the versions of
its dependencies). ``Related.load`` reads those for any number of installations with a fixed
number of statements, so a page costs the same few statements whatever its length.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import InstallationState
from opscenter.installer import config as cfg
from opscenter.installer.catalog import repository as catalog
from opscenter.installer.entitlements import service as entitlements
from opscenter.installer.installations import repository as repo
from opscenter.installer.models import CatalogVersion, Entitlement, Installation
from opscenter.servicekit.errors import not_found


@dataclass(frozen=True)
class Related:
    """The rows the views of some installations of one tenant need besides their own."""

    versions: Mapping[tuple[uuid.UUID, str], CatalogVersion]
    entitlements: Mapping[uuid.UUID, Entitlement | None]
    #: The tenant's installations by slug (for the versions of dependencies).
    tenant: Mapping[str, Installation]

    @classmethod
    async def load(
        cls, session: AsyncSession, tenant_id: str, installations: Sequence[Installation]
    ) -> Related:
        """Three statements for any number of ``installations`` (two when none of their
        versions has dependencies). The tenant's rows come through the ORM, so they show the
        transaction's changes to them."""
        versions = await catalog.version_snapshots(
            session, [(i.plugin_id, i.version) for i in installations]
        )
        current = await entitlements.current(
            session, tenant_id, [i.plugin_id for i in installations]
        )
        tenant: dict[str, Installation] = {}
        if any(v.dependencies for v in versions.values()):
            tenant = {i.slug: i for i in await repo.of_tenant(session, tenant_id)}
        return cls(versions, current, tenant)

    def version_of(self, installation: Installation) -> CatalogVersion | None:
        return self.versions.get((installation.plugin_id, installation.version))


def view(cipher: cfg.ConfigCipher, installation: Installation, related: Related) -> dict[str, Any]:
    """The API view of ``installation`` (``InstallationRead``), secrets masked."""
    version = related.version_of(installation)
    schema = version.config_schema if version else None
    secrets = cipher.decrypt(installation.secret_config)
    return {
        "id": str(installation.id),
        "plugin": installation.slug,
        "plugin_id": str(installation.plugin_id),
        "version": installation.version,
        "state": installation.state,
        "granted_permissions": list(installation.granted_permissions or []),
        "config": cfg.public_view(schema, installation.config or {}, secrets),
        "entitlement": entitlements.describe(related.entitlements.get(installation.plugin_id)),
        "dependencies": _installed_dependencies(version, related.tenant),
        "reason": installation.status_reason,
        "retryable": installation.retryable,
        "target_version": installation.target_version,
        "plan_id": str(installation.plan_id) if installation.plan_id else None,
        "updated_at": installation.updated_at.isoformat(),
    }


def _installed_dependencies(
    version: CatalogVersion | None, tenant: Mapping[str, Installation]
) -> dict[str, str]:
    if version is None or not version.dependencies:
        return {}
    return {
        slug: tenant[slug].version
        for slug in sorted(version.dependencies)
        if slug in tenant and tenant[slug].state != InstallationState.UNINSTALLED
    }


async def read(
    session: AsyncSession, cipher: cfg.ConfigCipher, installation: Installation
) -> dict[str, Any]:
    """The view of one installation, reading what it needs (an action's answer)."""
    related = await Related.load(session, installation.tenant_id, [installation])
    return view(cipher, installation, related)


async def get_one(
    session: AsyncSession, cipher: cfg.ConfigCipher, tenant_id: str, ref: str
) -> dict[str, Any]:
    """The view of the tenant's installation of ``ref`` with its history and consents."""
    installation = await repo.find(session, tenant_id, ref)
    if installation is None:
        raise not_found("installation")
    body = await read(session, cipher, installation)
    body["history"] = [
        {
            "sequence": h.sequence,
            "action": h.action,
            "from_state": h.from_state,
            "to_state": h.to_state,
            "version": h.version,
            "actor_id": h.actor_id,
            "reason": h.reason,
            "at": h.created_at.isoformat(),
        }
        for h in await repo.history(session, installation.id)
    ]
    body["consents"] = [
        {
            "version": c.version,
            "permissions": c.permissions,
            "granted_by": c.granted_by,
            "granted_at": c.granted_at.isoformat(),
        }
        for c in await repo.consents(session, installation.id)
    ]
    return body


async def list_page(
    session: AsyncSession,
    cipher: cfg.ConfigCipher,
    tenant_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """A page of the tenant's installations by slug: four statements whatever ``limit``."""
    rows = await repo.page(session, tenant_id, after=cursor, limit=limit + 1)
    shown = rows[:limit]
    related = await Related.load(session, tenant_id, shown)
    return {
        "items": [view(cipher, i, related) for i in shown],
        "next_cursor": rows[limit - 1].slug if len(rows) > limit else None,
    }
