"""A tenant's actions on its installations (enable, disable, uninstall, config, upgrade), and
the ban of a plugin in every tenant.

Invariants:
- An action locks the tenant's plan row first, then the installation (``_locked``), so it never
  interleaves with a plan of the same tenant; it changes ORM rows through ``transition`` and
  emits the matching event in the same transaction.
- An action that would leave a dependent without its dependency refuses (409 naming the
  dependents) unless the caller says what happens to them (``cascade``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    InstallationAction,
    InstallationConfigUpdatedV1,
    InstallationDisabledV1,
    InstallationEnabledV1,
    InstallationState,
    InstallationUninstallRequestedV1,
    InstallationUpgradeRequestedV1,
)
from opscenter.contracts.permissions import missing_permissions
from opscenter.installer import config as cfg
from opscenter.installer.catalog import repository as catalog
from opscenter.installer.events import Emit
from opscenter.installer.installations import repository as repo
from opscenter.installer.installations.schemas import (
    ConfigUpdate,
    DisableCreate,
    UninstallCreate,
    UpgradeCreate,
)
from opscenter.installer.installations.service.context import TenantAction
from opscenter.installer.installations.service.planning import Index, live_versions
from opscenter.installer.installations.service.transitions import (
    allowed,
    banned,
    config_invalid,
    config_set,
    consent,
    consent_required,
    event_fields,
    hooks_of,
    not_now,
    transition,
)
from opscenter.installer.installations.service.views import read
from opscenter.installer.installations.states import SETTLED_STATES, UNINSTALL_BLOCKERS
from opscenter.installer.models import Installation
from opscenter.installer.resolver import Requirement, ResolverError, resolve
from opscenter.servicekit.errors import Problem, field_error, not_found


async def _locked(action: TenantAction, ref: str) -> Installation:
    await repo.lock_tenant(action.session, action.tenant_id)
    installation = await repo.find(action.session, action.tenant_id, ref, lock=True)
    if installation is None:
        raise not_found("installation")
    return installation


async def _dependencies_of(session: AsyncSession, installation: Installation) -> dict[str, str]:
    version = await catalog.get_version(session, installation.plugin_id, installation.version)
    return dict(version.dependencies) if version else {}


async def _dependents(
    session: AsyncSession,
    tenant_rows: Sequence[Installation],
    slug: str,
    states: Collection[str],
) -> list[Installation]:
    """Installations in ``states`` that depend on ``slug``, transitively, dependents last."""
    out: list[Installation] = []
    frontier = [slug]
    seen = {slug}
    dependencies = {i.slug: await _dependencies_of(session, i) for i in tenant_rows}
    while frontier:
        current = frontier.pop(0)
        for i in tenant_rows:
            if i.slug not in seen and i.state in states and current in dependencies[i.slug]:
                seen.add(i.slug)
                out.append(i)
                frontier.append(i.slug)
    return out


async def _disable(
    session: AsyncSession,
    emit: Emit,
    installation: Installation,
    actor: str | None,
    *,
    reason: str | None,
    cause: str,
) -> None:
    installation.status_reason = reason
    await transition(session, installation, InstallationAction.DISABLE, actor=actor, reason=reason)
    await emit(
        InstallationDisabledV1.model_validate(
            {**event_fields(installation, actor), "reason": reason, "cause": cause}
        ),
        installation.tenant_id,
    )


async def enable(action: TenantAction, ref: str) -> dict[str, Any]:
    """Enables the installation; its dependencies must be enabled already."""
    session = action.session
    installation = await _locked(action, ref)
    plugin = await catalog.plugin_snapshot(session, installation.plugin_id)
    if plugin is not None and plugin.banned:
        raise banned(plugin)
    dependencies = await _dependencies_of(session, installation)
    rows = {i.slug: i for i in await repo.of_tenant(session, action.tenant_id)}
    not_enabled = sorted(
        d for d in dependencies if d not in rows or rows[d].state != InstallationState.ENABLED
    )
    if not_enabled and installation.state in (
        InstallationState.INSTALLED,
        InstallationState.DISABLED,
    ):
        raise Problem(
            409,
            "dependencies-not-enabled",
            f"{installation.slug} needs its dependencies enabled first: {', '.join(not_enabled)}",
            current_state=installation.state,
            dependencies=not_enabled,
        )
    await transition(session, installation, InstallationAction.ENABLE, actor=action.actor)
    installation.status_reason = None
    version = await catalog.get_version(session, installation.plugin_id, installation.version)
    await action.emit(
        InstallationEnabledV1.model_validate(
            {
                **event_fields(installation, action.actor),
                "granted_permissions": installation.granted_permissions,
                "hooks": hooks_of(version),
            }
        ),
        action.tenant_id,
    )
    return await read(session, action.cipher, installation)


async def disable(action: TenantAction, ref: str, body: DisableCreate) -> dict[str, Any]:
    """Disables the installation; with ``cascade=disable`` its enabled dependents first."""
    session = action.session
    installation = await _locked(action, ref)
    if installation.state != InstallationState.ENABLED:
        raise not_now(installation, "disable")
    rows = await repo.of_tenant(session, action.tenant_id, lock=True)
    dependents = await _dependents(session, rows, installation.slug, [InstallationState.ENABLED])
    if dependents and body.cascade == "none":
        names = [d.slug for d in dependents]
        raise Problem(
            409,
            "has-dependents",
            f"{installation.slug} is needed by enabled plugins: {', '.join(names)}; "
            "send cascade=disable to disable them too",
            current_state=installation.state,
            dependents=names,
        )
    for dependent in reversed(dependents):
        await _disable(
            session,
            action.emit,
            dependent,
            action.actor,
            reason=f"{installation.slug} was disabled",
            cause="dependency_disabled",
        )
    await _disable(
        session, action.emit, installation, action.actor, reason=body.reason, cause="requested"
    )
    return await read(session, action.cipher, installation)


async def uninstall(action: TenantAction, ref: str, body: UninstallCreate) -> dict[str, Any]:
    """Asks the worker to uninstall; ``cascade`` says what happens to live dependents."""
    session = action.session
    installation = await _locked(action, ref)
    rows = await repo.of_tenant(session, action.tenant_id, lock=True)
    dependents = await _dependents(session, rows, installation.slug, UNINSTALL_BLOCKERS)
    if dependents and body.cascade == "none":
        names = [d.slug for d in dependents]
        raise Problem(
            409,
            "has-dependents",
            f"{installation.slug} is needed by: {', '.join(names)}; send cascade=disable or "
            "cascade=uninstall to say what happens to them",
            current_state=installation.state,
            dependents=names,
        )
    # Validate the target's own transition before touching dependents.
    if not allowed(installation, InstallationAction.UNINSTALL_REQUESTED):
        raise not_now(installation, "uninstall")
    for dependent in reversed(dependents):
        if body.cascade == "disable":
            if dependent.state == InstallationState.ENABLED:
                await _disable(
                    session,
                    action.emit,
                    dependent,
                    action.actor,
                    reason=f"{installation.slug} was uninstalled",
                    cause="dependency_disabled",
                )
        else:
            await _request_uninstall(action, dependent, "uninstall")
    await _request_uninstall(action, installation, body.cascade)
    return await read(session, action.cipher, installation)


async def _request_uninstall(
    action: TenantAction, installation: Installation, cascade: str
) -> None:
    await transition(
        action.session, installation, InstallationAction.UNINSTALL_REQUESTED, actor=action.actor
    )
    await action.emit(
        InstallationUninstallRequestedV1.model_validate(
            {**event_fields(installation, action.actor), "cascade": cascade}
        ),
        installation.tenant_id,
    )


async def update_config(action: TenantAction, ref: str, body: ConfigUpdate) -> dict[str, Any]:
    """Replaces the config; secrets omitted or masked keep their stored values."""
    session, cipher = action.session, action.cipher
    installation = await _locked(action, ref)
    if not allowed(installation, InstallationAction.CONFIG_UPDATE):
        raise not_now(installation, "change the config of")
    version = await catalog.get_version(session, installation.plugin_id, installation.version)
    schema = version.config_schema if version else None
    stored = cipher.decrypt(installation.secret_config)
    full = cfg.merge_for_update(schema, installation.config or {}, stored, body.config)
    errors = cfg.validate_config(schema, full, "config")
    if errors:
        raise config_invalid(errors)
    before = cfg.join(installation.config or {}, stored)
    public, secrets = cfg.split_secrets(schema, full)
    changed = sorted(k for k in set(before) | set(full) if before.get(k) != full.get(k))
    installation.config = public
    installation.secret_config = cipher.encrypt(secrets)
    await transition(session, installation, InstallationAction.CONFIG_UPDATE, actor=action.actor)
    await action.emit(
        InstallationConfigUpdatedV1.model_validate(
            {**event_fields(installation, action.actor), "changed_keys": changed}
        ),
        action.tenant_id,
    )
    await action.emit(
        config_set(installation, cipher, secrets, "update", action.actor), action.tenant_id
    )
    return await read(session, cipher, installation)


async def upgrade(action: TenantAction, ref: str, body: UpgradeCreate) -> dict[str, Any]:
    """Asks the worker to upgrade to ``body.version``; new permissions need consent, and the
    installed plugins must still fit together (nothing new is installed)."""
    session = action.session
    installation = await _locked(action, ref)
    if not allowed(installation, InstallationAction.UPGRADE_REQUESTED):
        raise not_now(installation, "upgrade")
    if body.version == installation.version:
        raise Problem(
            409,
            "same-version",
            f"{installation.slug} already runs {installation.version}",
            current_state=installation.state,
        )
    plugin = await catalog.plugin_snapshot(session, installation.plugin_id)
    if plugin is not None and plugin.banned:
        raise banned(plugin)
    target = await catalog.get_version(session, installation.plugin_id, body.version)
    if target is None:
        raise Problem(
            422,
            "validation-error",
            f"{installation.slug} has no published version {body.version}",
            errors=[field_error("version", "is not a published version of this plugin")],
        )
    rows = await repo.of_tenant(session, action.tenant_id)
    live = live_versions(rows, besides=installation.slug)
    index = await Index.load(session, [installation.slug, *live])
    try:
        resolution = resolve(
            index.candidates, [Requirement(installation.slug, f"={body.version}")], locked=live
        )
    except ResolverError as exc:
        raise Problem(409, "unresolvable", f"Cannot upgrade {installation.slug}: {exc}") from None
    extra = [
        c.label for c in resolution.order if c.slug not in live and c.slug != installation.slug
    ]
    if extra:
        raise Problem(
            409,
            "unresolvable",
            f"Upgrading {installation.slug} to {body.version} needs plugins that are not "
            f"installed: {', '.join(extra)}; install them first",
        )
    new_permissions = missing_permissions(
        installation.granted_permissions or [], target.permissions
    )
    missing = missing_permissions(body.accept_permissions, new_permissions)
    if missing:
        raise consent_required(missing)
    installation.previous_state = installation.state
    installation.target_version = body.version
    await transition(
        session, installation, InstallationAction.UPGRADE_REQUESTED, actor=action.actor
    )
    session.add(consent(installation, body.version, target.permissions, action.actor, plain=False))
    await action.emit(
        InstallationUpgradeRequestedV1.model_validate(
            {
                **event_fields(installation, action.actor),
                "to_version": body.version,
                "granted_permissions": list(target.permissions),
            }
        ),
        action.tenant_id,
    )
    return await read(session, action.cipher, installation)


# --- reactions to the catalog -----------------------------------------------------------------


async def ban(session: AsyncSession, emit: Emit, plugin_id: uuid.UUID) -> int:
    """Disables every installed, enabled or disabled installation of a banned plugin, in every
    tenant, with reason "banned", and the enabled plugins that depend on it (they cannot run
    without it: the same rule as a disable with cascade). Returns how many were banned."""
    rows = await repo.of_plugin_for_update(session, plugin_id, [s.value for s in SETTLED_STATES])
    for installation in rows:
        tenant_rows = await repo.of_tenant(session, installation.tenant_id, lock=True)
        dependents = await _dependents(
            session, tenant_rows, installation.slug, [InstallationState.ENABLED]
        )
        for dependent in reversed(dependents):
            await _disable(
                session,
                emit,
                dependent,
                None,
                reason=f"{installation.slug} was banned",
                cause="dependency_disabled",
            )
        await _ban_one(session, emit, installation)
    return len(rows)


async def _ban_one(session: AsyncSession, emit: Emit, installation: Installation) -> None:
    installation.status_reason = "banned"
    await transition(session, installation, InstallationAction.BAN, actor=None, reason="banned")
    await emit(
        InstallationDisabledV1.model_validate(
            {**event_fields(installation, None), "reason": "banned", "cause": "plugin_banned"}
        ),
        installation.tenant_id,
    )
