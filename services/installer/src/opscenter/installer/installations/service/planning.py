"""The install request: resolve the dependency plan, price and check it, and record it.

Invariants:
- The request first locks the tenant's plan row (``repository.lock_tenant``), so two plans of
  one tenant never interleave: of two concurrent installs of one plugin the second sees the
  first and answers 409.
- The plan is recorded whole, in one statement (ADR 0010): its new and installed-again
  installations, their history, consents, ledger rows and events. The worker executes it
  (``executor.execute_installs``). A dry run resolves the same plan and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    EventPayload,
    InstallationAction,
    InstallationRequestedV1,
    InstallationState,
)
from opscenter.contracts.permissions import is_known_permission, missing_permissions
from opscenter.installer import config as cfg
from opscenter.installer.catalog import repository as catalog
from opscenter.installer.entitlements import service as entitlements
from opscenter.installer.installations import repository as repo
from opscenter.installer.installations.schemas import InstallCreate
from opscenter.installer.installations.service.context import TenantAction
from opscenter.installer.installations.service.transitions import (
    banned,
    config_invalid,
    config_set,
    consent,
    consent_required,
    event_fields,
    move,
    now,
)
from opscenter.installer.installations.service.views import Related, view
from opscenter.installer.installations.states import INSTALLABLE_STATES, LIVE_STATES
from opscenter.installer.models import (
    Base,
    CatalogPlugin,
    CatalogVersion,
    Entitlement,
    Installation,
)
from opscenter.installer.resolver import Candidate, Requirement, ResolverError, resolve
from opscenter.servicekit.driver import new_row
from opscenter.servicekit.errors import Problem, field_error, not_found


@dataclass
class Index:
    """Every published version of the plugins reachable from some slugs, for the resolver."""

    candidates: dict[str, list[Candidate]]
    versions: dict[tuple[str, str], CatalogVersion]
    plugins: dict[str, CatalogPlugin]

    @classmethod
    async def load(cls, session: AsyncSession, slugs: Sequence[str]) -> Index:
        """One query: the versions reachable through any version's dependencies."""
        index = cls({}, {}, {})
        for version, plugin in await catalog.closure_snapshots(session, slugs):
            index.versions[(version.slug, version.version)] = version
            index.plugins[plugin.slug] = plugin
            index.candidates.setdefault(version.slug, []).append(
                Candidate(
                    version.slug, version.version, dict(version.dependencies or {}), version.yanked
                )
            )
        return index


def live_versions(installations: Sequence[Installation], *, besides: str = "") -> dict[str, str]:
    """The versions the tenant's live installations hold, by slug (a plan must keep them)."""
    return {
        i.slug: i.version for i in installations if i.state in LIVE_STATES and i.slug != besides
    }


@dataclass
class _Plan:
    """A resolved plan and what recording it needs."""

    body: dict[str, Any]
    root: CatalogPlugin
    new: list[Candidate]
    versions: dict[tuple[str, str], CatalogVersion]
    configs: dict[str, dict[str, Any]]
    charges: dict[str, entitlements.Charge]
    ledger: entitlements.Charges
    tenant: dict[uuid.UUID, Installation]
    missing: set[str]

    def version(self, candidate: Candidate) -> CatalogVersion:
        return self.versions[(candidate.slug, candidate.version)]


async def install(action: TenantAction, req: InstallCreate) -> tuple[int, dict[str, Any]]:
    """Resolves, checks and (unless ``dry_run``) records a plan; the worker executes it.
    Answers 200 with the plan for a dry run, else 202 with the installation and the plan."""
    unknown = [p for p in req.accept_permissions if not is_known_permission(p)]
    if unknown:
        raise Problem(
            422,
            "validation-error",
            f"Unknown permissions: {', '.join(unknown)}",
            errors=[
                field_error("accept_permissions", f"unknown permission {p!r}") for p in unknown
            ],
        )
    if not req.dry_run:
        await repo.lock_tenant(action.session, action.tenant_id)
    plan = await _resolve(action, req)
    if req.dry_run:
        return 200, {"dry_run": True, "plan": plan.body}
    _check(plan, req)
    return 202, await _record(action, req, plan)


async def _resolve(action: TenantAction, req: InstallCreate) -> _Plan:
    """The plan the server would carry out: new installations in plan order, their charges,
    permissions and config errors (nothing is written)."""
    session, tenant_id = action.session, action.tenant_id
    plugin = await catalog.plugin_snapshot(session, req.plugin)
    if plugin is None:
        raise not_found("plugin")
    if plugin.banned:
        raise banned(plugin)
    read_tenant = repo.tenant_snapshots if req.dry_run else repo.tenant_for_update
    tenant = {i.plugin_id: i for i in await read_tenant(session, tenant_id)}
    existing = tenant.get(plugin.plugin_id)
    if existing is not None and existing.state not in INSTALLABLE_STATES:
        raise Problem(
            409,
            "already-installed",
            f"{plugin.slug} is already installed in this tenant ({existing.state})",
            current_state=existing.state,
        )
    live = live_versions(list(tenant.values()))
    index = await Index.load(session, [plugin.slug, *live])
    try:
        resolution = resolve(
            index.candidates, [Requirement(plugin.slug, req.version or "*")], locked=live
        )
    except ResolverError as exc:
        raise Problem(409, "unresolvable", f"Cannot install {plugin.slug}: {exc}") from None

    new = [c for c in resolution.order if c.slug not in live]
    banned_ones = [index.plugins[c.slug] for c in new if index.plugins[c.slug].banned]
    if banned_ones:
        raise Problem(
            410,
            "plugin-banned",
            "The plan needs banned plugins: " + ", ".join(p.slug for p in banned_ones),
        )
    versions = {c: index.versions[(c.slug, c.version)] for c in new}
    ledger = await entitlements.charges_for(
        session, tenant_id, {v.plugin_id: v.pricing for v in versions.values()}
    )
    items: list[dict[str, Any]] = []
    needed: set[str] = set()
    config_errors: list[dict[str, str]] = []
    charges: dict[str, entitlements.Charge] = {}
    configs: dict[str, dict[str, Any]] = {}
    for candidate, version in versions.items():
        is_root = candidate.slug == plugin.slug
        given = req.config if is_root else req.dependency_config.get(candidate.slug, {})
        prefix = "config" if is_root else f"dependency_config.{candidate.slug}"
        errors = cfg.validate_config(version.config_schema, given, prefix)
        config_errors += errors
        configs[candidate.slug] = given
        charge = charges[candidate.slug] = ledger.charges[version.plugin_id]
        needed |= set(version.permissions)
        items.append(
            {
                "plugin": candidate.slug,
                "plugin_id": str(version.plugin_id),
                "version": candidate.version,
                "role": "requested" if is_root else "dependency",
                "permissions": list(version.permissions),
                "pricing": version.pricing,
                "charge": charge.as_dict(),
                "config_errors": errors,
                "signed": version.signature is not None,
                "yanked": version.yanked,
            }
        )
    missing = missing_permissions(req.accept_permissions, needed)
    body: dict[str, Any] = {
        "items": items,
        "kept": [
            {"plugin": c.slug, "version": c.version} for c in resolution.order if c.slug in live
        ],
        "permissions": sorted(needed),
        "missing_permissions": sorted(missing),
        "config_errors": config_errors,
        "payment_required": [s for s, ch in charges.items() if ch.kind == "payment_required"],
    }
    return _Plan(body, plugin, new, index.versions, configs, charges, ledger, tenant, missing)


def _check(plan: _Plan, req: InstallCreate) -> None:
    """Refuses a plan that changed since it was shown, or lacks consent, config or payment."""
    if req.plan is not None:
        wanted = [(p.plugin, p.version) for p in req.plan]
        if wanted != [(c.slug, c.version) for c in plan.new]:
            raise Problem(
                409,
                "plan-changed",
                "The plan changed since it was shown; review the new plan",
                plan=plan.body,
            )
    if plan.missing:
        raise consent_required(plan.missing)
    if plan.body["config_errors"]:
        raise config_invalid(plan.body["config_errors"])
    unpaid = plan.body["payment_required"]
    if unpaid:
        details = "; ".join(f"{s}: {plan.charges[s].detail}" for s in unpaid)
        raise Problem(
            409,
            "payment-required",
            f"A paid entitlement is needed first ({details})",
            plugins=unpaid,
        )


async def _record(action: TenantAction, req: InstallCreate, plan: _Plan) -> dict[str, Any]:
    """Writes the plan and its events in one statement, under the tenant's plan lock (ADR 0001:
    the events' outbox ids are drawn under it), and answers the root installation's view."""
    plan_id = uuid.uuid4()
    root: Installation | None = None
    created: list[Installation] = []
    again: list[Installation] = []  # installed before (uninstalled or failed): written back
    dependent_rows: list[Base] = []
    events: list[EventPayload] = []
    current: dict[uuid.UUID, Entitlement | None] = {}
    # The root is recorded first, so the dependencies it pulled in can name its id.
    in_order = sorted(enumerate(plan.new), key=lambda pc: pc[1].slug != plan.root.slug)
    for position, candidate in in_order:
        version = plan.version(candidate)
        installation = plan.tenant.get(version.plugin_id)
        requested = InstallationAction.INSTALL_REQUESTED
        if installation is None:
            installation = _new_installation(action.tenant_id, version)
            created.append(installation)
        else:
            if installation.state == InstallationState.FAILED:
                requested = InstallationAction.RETRY
            installation.attempt += 1
            again.append(installation)
        _prepare(installation, version, plan_id, position, root, req.enable)
        public, secrets = cfg.split_secrets(version.config_schema, plan.configs[candidate.slug])
        installation.config = public
        installation.secret_config = action.cipher.encrypt(secrets)
        dependent_rows.append(move(installation, requested, actor=action.actor))
        if candidate.slug == plan.root.slug:
            root = installation
        dependent_rows.append(
            consent(installation, version.version, version.permissions, action.actor)
        )
        active = plan.ledger.active[version.plugin_id]
        ledger_rows, charged = entitlements.prepare_charge(
            action.tenant_id,
            version.plugin_id,
            candidate.slug,
            plan.charges[candidate.slug],
            active,
            str(version.pricing.get("currency", "USD")),
        )
        dependent_rows += ledger_rows
        new_entitlement = next((r for r in ledger_rows if isinstance(r, Entitlement)), None)
        current[version.plugin_id] = entitlements.pick_current(
            [new_entitlement, *active] if new_entitlement else active
        )
        events += charged
        events.append(
            InstallationRequestedV1.model_validate(
                {
                    **event_fields(installation, action.actor),
                    "granted_permissions": list(version.permissions),
                    "enable": req.enable,
                    "dependency_of": installation.dependency_of,
                    "attempt": installation.attempt,
                }
            )
        )
        events.append(config_set(installation, action.cipher, secrets, "install", action.actor))
    for payload in events:
        await action.emit(payload, action.tenant_id)
    await repo.save(action.session, [*created, *dependent_rows], changed=again)
    assert root is not None  # sorted first
    tenant = {i.slug: i for i in (*plan.tenant.values(), *created)}
    related = Related(
        versions={(root.plugin_id, root.version): plan.versions[(root.slug, root.version)]},
        entitlements={root.plugin_id: current[root.plugin_id]},
        tenant=tenant,
    )
    return {
        "installation": view(action.cipher, root, related),
        "plan": {**plan.body, "plan_id": str(plan_id)},
    }


def _new_installation(tenant_id: str, version: CatalogVersion) -> Installation:
    return new_row(
        Installation,
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        plugin_id=version.plugin_id,
        slug=version.slug,
        version=version.version,
        state=InstallationState.AVAILABLE.value,
        sequence=0,
        attempt=1,
        config={},
        granted_permissions=[],
        created_at=now(),
    )


def _prepare(
    installation: Installation,
    version: CatalogVersion,
    plan_id: uuid.UUID,
    position: int,
    root: Installation | None,
    enable: bool,
) -> None:
    """Points ``installation`` at the plan's version, clearing what a past attempt left."""
    installation.version = version.version
    installation.digest = version.digest
    installation.plan_id = plan_id
    installation.plan_position = position
    installation.dependency_of = None if root is None else root.id
    installation.enable_requested = enable
    installation.granted_permissions = list(version.permissions)
    installation.status_reason = None
    installation.retryable = None
    installation.previous_state = None
    installation.target_version = None
