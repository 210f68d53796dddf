"""How an installation changes state, and the refusals and event fields every action shares.

Every state change goes through the contracts' ``apply_transition``: ``transition`` for ORM
rows (it writes the history row through the session), ``Moves`` for driver rows read for update
(it writes rows and history rows in one statement). An illegal transition is a 409 carrying
``current_state``. The caller emits the matching event in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    HookSpec,
    IllegalTransition,
    InstallationAction,
    InstallationConfigSetV1,
    InstallationState,
    apply_transition,
)
from opscenter.installer.config import ConfigCipher
from opscenter.installer.installations import repository as repo
from opscenter.installer.models import (
    CatalogPlugin,
    CatalogVersion,
    Consent,
    Installation,
    InstallationHistory,
)
from opscenter.servicekit.driver import new_row
from opscenter.servicekit.errors import Problem, field_error


def now() -> datetime:
    return datetime.now(UTC)


async def transition(
    session: AsyncSession,
    installation: Installation,
    action: InstallationAction,
    *,
    actor: str | None,
    reason: str | None = None,
    previous: InstallationState | None = None,
) -> InstallationState:
    """Moves an ORM-loaded ``installation`` by ``action`` and writes its history row.

    A driver snapshot refuses the change (``SnapshotIsReadOnly``); a row read for update must
    go through ``Moves`` instead, or its commit fails (``UnwrittenChanges``)."""
    session.add(
        move(installation, action, actor=actor, reason=reason, previous=previous, plain=False)
    )
    await session.flush()
    return InstallationState(installation.state)


def move(
    installation: Installation,
    action: InstallationAction,
    *,
    actor: str | None,
    reason: str | None = None,
    previous: InstallationState | None = None,
    plain: bool = True,
) -> InstallationHistory:
    """The in-memory part of a transition: the new state on ``installation`` and its unsaved
    history row, a ``new_row`` for ``write_rows`` (or, ``plain=False``, an ORM object)."""
    current = InstallationState(installation.state)
    try:
        target = apply_transition(current, action, previous=previous)
    except IllegalTransition as exc:
        raise Problem(
            409,
            "illegal-transition",
            f"{installation.slug}: {exc}",
            current_state=current.value,
        ) from None
    installation.state = target.value
    installation.sequence += 1
    installation.updated_at = now()
    values: dict[str, Any] = dict(
        installation_id=installation.id,
        sequence=installation.sequence,
        action=action.value,
        from_state=current.value,
        to_state=target.value,
        version=installation.version,
        actor_id=actor,
        reason=reason,
        created_at=now(),
    )
    return new_row(InstallationHistory, **values) if plain else InstallationHistory(**values)


def consent(
    installation: Installation,
    version: str,
    permissions: list[str],
    granted_by: str,
    *,
    plain: bool = True,
) -> Consent:
    """The record that ``granted_by`` accepted ``permissions`` for ``version``: a ``new_row``
    for ``write_rows`` (or, ``plain=False``, an ORM object for the session)."""
    values: dict[str, Any] = dict(
        tenant_id=installation.tenant_id,
        installation_id=installation.id,
        plugin_id=installation.plugin_id,
        version=version,
        permissions=list(permissions),
        granted_by=granted_by,
        granted_at=now(),
    )
    return new_row(Consent, **values) if plain else Consent(**values)


def allowed(installation: Installation, action: InstallationAction) -> bool:
    try:
        apply_transition(InstallationState(installation.state), action)
    except IllegalTransition:
        return False
    return True


@dataclass
class Moves:
    """State changes of rows read for update (``repository.plans_for_update``): applied in
    memory as ``transition`` would, then written with their history rows in one statement
    (``save``, ADR 0010)."""

    rows: dict[uuid.UUID, Installation] = field(default_factory=dict)
    history: list[InstallationHistory] = field(default_factory=list)

    def apply(
        self,
        installation: Installation,
        action: InstallationAction,
        *,
        reason: str | None = None,
    ) -> None:
        self.history.append(move(installation, action, actor=None, reason=reason))
        self.rows[installation.id] = installation

    async def save(self, session: AsyncSession) -> None:
        await repo.save(session, self.history, changed=list(self.rows.values()))


def event_fields(installation: Installation, actor: str | None) -> dict[str, Any]:
    """The fields every ``installer.installation`` event carries."""
    return {
        "installation_id": installation.id,
        "tenant_id": installation.tenant_id,
        "plugin_id": installation.plugin_id,
        "slug": installation.slug,
        "version": installation.version,
        "state": installation.state,
        "sequence": installation.sequence,
        "actor_id": actor,
    }


def config_set(
    installation: Installation,
    cipher: ConfigCipher,
    secrets: dict[str, Any],
    reason: str,
    actor: str | None,
) -> InstallationConfigSetV1:
    """The installation's whole config for hooks, emitted right after the transition that set
    it (same sequence): ``installation.config`` (non-secret) in clear, ``secrets`` only sealed
    to the hooks service's key."""
    return InstallationConfigSetV1.model_validate(
        {
            **event_fields(installation, actor),
            "reason": reason,
            "config": installation.config or {},
            "secrets": cipher.for_hooks(installation.id, secrets),
        }
    )


def hooks_of(version: CatalogVersion | None) -> list[HookSpec]:
    if version is None:
        return []
    return [HookSpec.model_validate(h) for h in version.manifest.get("hooks") or []]


# --- refusals shared by several actions -------------------------------------------------------


def banned(plugin: CatalogPlugin) -> Problem:
    return Problem(410, "plugin-banned", f"{plugin.slug} was banned: {plugin.ban_reason}")


def config_invalid(errors: list[dict[str, str]]) -> Problem:
    """422 naming each field the version's config schema refuses."""
    detail = "; ".join(f"{e['field']} {e['message']}" for e in errors)
    return Problem(
        422,
        "config-invalid",
        f"The configuration does not match the plugin's config schema: {detail}",
        errors=errors,
    )


def not_now(installation: Installation, doing: str) -> Problem:
    """409 with the current state: ``doing`` is not allowed from it."""
    return Problem(
        409,
        "illegal-transition",
        f"{installation.slug}: cannot {doing} an installation that is {installation.state}",
        current_state=installation.state,
    )


def consent_required(missing: set[str]) -> Problem:
    names = sorted(missing)
    return Problem(
        422,
        "consent-required",
        "The plan needs permissions you did not accept: " + ", ".join(names),
        errors=[field_error("accept_permissions", f"must include {n}") for n in names],
        missing_permissions=names,
    )
