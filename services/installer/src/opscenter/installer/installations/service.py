"""Installations of one tenant: plans, lifecycle transitions, consent, config, execution.

Invariants:
- Every state change goes through ``transition`` (the contracts' ``apply_transition``): it writes
  a history row and the caller emits the matching event in the same transaction. An illegal
  transition is a 409 carrying ``current_state``.
- Every change to a tenant's installations first locks the tenant's plan row, so two plans of
  one tenant never interleave (two concurrent installs of one plugin: the second sees the first
  and answers 409).
- A plan is applied whole or not at all: its installations are executed together by the worker
  in one transaction; if any package fails, every installation of the plan goes to Failed and
  the folders this execution unpacked are removed again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    EventPayload,
    HookSpec,
    IllegalTransition,
    InstallationAction,
    InstallationConfigUpdatedV1,
    InstallationDisabledV1,
    InstallationEnabledV1,
    InstallationFailedV1,
    InstallationInstalledV1,
    InstallationRequestedV1,
    InstallationState,
    InstallationUninstalledV1,
    InstallationUninstallRequestedV1,
    InstallationUpgradedV1,
    InstallationUpgradeRequestedV1,
    apply_transition,
)
from opscenter.contracts.permissions import is_known_permission, missing_permissions
from opscenter.installer import config as cfg
from opscenter.installer.artifacts import (
    ArtifactError,
    ArtifactSource,
    InstallStore,
    sha256_hex,
    verify_signature,
)
from opscenter.installer.catalog import repository as catalog
from opscenter.installer.entitlements import service as entitlements
from opscenter.installer.events import Emit
from opscenter.installer.installations import repository as repo
from opscenter.installer.installations.schemas import (
    ConfigUpdate,
    DisableCreate,
    InstallCreate,
    UninstallCreate,
    UpgradeCreate,
)
from opscenter.installer.models import (
    Base,
    CatalogPlugin,
    CatalogVersion,
    Consent,
    Entitlement,
    Installation,
    InstallationHistory,
    PublisherKey,
)
from opscenter.installer.resolver import (
    Candidate,
    Requirement,
    ResolverError,
    resolve,
)
from opscenter.servicekit.driver import new_row
from opscenter.servicekit.errors import Problem, field_error, not_found

S = InstallationState
A = InstallationAction

SETTLED = (S.INSTALLED, S.ENABLED, S.DISABLED)


@dataclass
class Executor:
    """What the worker needs to materialise packages."""

    source: ArtifactSource
    store: InstallStore
    cipher: cfg.ConfigCipher
    allow_unsigned: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


# --- transitions and events -------------------------------------------------------------------


def _banned(plugin: CatalogPlugin) -> Problem:
    return Problem(410, "plugin-banned", f"{plugin.slug} was banned: {plugin.ban_reason}")


def _config_invalid(errors: list[dict[str, str]]) -> Problem:
    """422 naming each field the version's config schema refuses."""
    detail = "; ".join(f"{e['field']} {e['message']}" for e in errors)
    return Problem(
        422,
        "config-invalid",
        f"The configuration does not match the plugin's config schema: {detail}",
        errors=errors,
    )


def _not_now(inst: Installation, doing: str) -> Problem:
    """409 with the current state: `doing` is not allowed from it."""
    return Problem(
        409,
        "illegal-transition",
        f"{inst.slug}: cannot {doing} an installation that is {inst.state}",
        current_state=inst.state,
    )


async def transition(
    session: AsyncSession,
    inst: Installation,
    action: InstallationAction,
    *,
    actor: str | None,
    reason: str | None = None,
    previous: InstallationState | None = None,
) -> InstallationState:
    """Moves ``inst`` by ``action`` and writes its history row (the one way states of rows
    loaded through the ORM change; the executor's locked snapshots change through ``_Moves``)."""
    session.add(_move(inst, action, actor=actor, reason=reason, previous=previous))
    await session.flush()
    return S(inst.state)


def _move(
    inst: Installation,
    action: InstallationAction,
    *,
    actor: str | None,
    reason: str | None = None,
    previous: InstallationState | None = None,
    plain: bool = False,
) -> InstallationHistory:
    """The in-memory part of ``transition``: the new state and its (unsaved) history row, an ORM
    object, or with ``plain`` a ``new_row`` for ``write_rows``."""
    current = S(inst.state)
    try:
        target = apply_transition(current, action, previous=previous)
    except IllegalTransition as exc:
        raise Problem(
            409,
            "illegal-transition",
            f"{inst.slug}: {exc}",
            current_state=current.value,
        ) from None
    inst.state = target.value
    inst.sequence += 1
    inst.updated_at = _now()
    values: dict[str, Any] = dict(
        installation_id=inst.id,
        sequence=inst.sequence,
        action=action.value,
        from_state=current.value,
        to_state=target.value,
        version=inst.version,
        actor_id=actor,
        reason=reason,
        created_at=_now(),
    )
    return new_row(InstallationHistory, **values) if plain else InstallationHistory(**values)


@dataclass
class _Moves:
    """State changes of installation snapshots the executor holds locked (``of_plans``):
    applied in memory as ``transition`` would, then written with their history rows in one
    statement (``save``, ADR 0010)."""

    rows: dict[uuid.UUID, Installation] = field(default_factory=dict)
    history: list[InstallationHistory] = field(default_factory=list)

    def apply(
        self, inst: Installation, action: InstallationAction, *, reason: str | None = None
    ) -> None:
        self.history.append(_move(inst, action, actor=None, reason=reason, plain=True))
        self.rows[inst.id] = inst

    async def save(self, session: AsyncSession) -> None:
        await repo.save(session, self.history, changed=list(self.rows.values()))


def _base(inst: Installation, actor: str | None) -> dict[str, Any]:
    return {
        "installation_id": inst.id,
        "tenant_id": inst.tenant_id,
        "plugin_id": inst.plugin_id,
        "slug": inst.slug,
        "version": inst.version,
        "state": inst.state,
        "sequence": inst.sequence,
        "actor_id": actor,
    }


def _hooks(version: CatalogVersion | None) -> list[HookSpec]:
    if version is None:
        return []
    return [HookSpec.model_validate(h) for h in version.manifest.get("hooks") or []]


# --- reading ----------------------------------------------------------------------------------


async def _installed_dependencies(
    session: AsyncSession,
    inst: Installation,
    version: CatalogVersion | None,
    tenant: Mapping[str, Installation] | None = None,
) -> dict[str, str]:
    if version is None or not version.dependencies:
        return {}
    others = (
        tenant
        if tenant is not None
        else {i.slug: i for i in await repo.of_tenant(session, inst.tenant_id)}
    )
    return {
        slug: others[slug].version
        for slug in sorted(version.dependencies)
        if slug in others and others[slug].state != S.UNINSTALLED
    }


_UNREAD: Any = object()


async def read(
    session: AsyncSession,
    cipher: cfg.ConfigCipher,
    inst: Installation,
    *,
    history: bool = False,
    version: CatalogVersion | None = _UNREAD,
    entitlement: Entitlement | None = _UNREAD,
    tenant: Mapping[str, Installation] | None = None,
) -> dict[str, Any]:
    """The API view of ``inst``. A caller that already holds the installed version
    (``version``), the tenant's installations by slug (``tenant``) or the current entitlement
    (``entitlement``, may be None) passes them so they are not read again."""
    if version is _UNREAD:
        version = await catalog.get_version(session, inst.plugin_id, inst.version)
    if entitlement is _UNREAD:
        entitlement = await entitlements.current(session, inst.tenant_id, inst.plugin_id)
    schema = version.config_schema if version else None
    secrets = cipher.decrypt(inst.secret_config)
    body: dict[str, Any] = {
        "id": str(inst.id),
        "plugin": inst.slug,
        "plugin_id": str(inst.plugin_id),
        "version": inst.version,
        "state": inst.state,
        "granted_permissions": list(inst.granted_permissions or []),
        "config": cfg.public_view(schema, inst.config or {}, secrets),
        "entitlement": entitlements.describe(entitlement),
        "dependencies": await _installed_dependencies(session, inst, version, tenant),
        "reason": inst.status_reason,
        "retryable": inst.retryable,
        "target_version": inst.target_version,
        "plan_id": str(inst.plan_id) if inst.plan_id else None,
        "updated_at": inst.updated_at.isoformat(),
    }
    if history:
        rows = await repo.history(session, inst.id)
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
            for h in rows
        ]
        body["consents"] = [
            {
                "version": c.version,
                "permissions": c.permissions,
                "granted_by": c.granted_by,
                "granted_at": c.granted_at.isoformat(),
            }
            for c in await repo.consents(session, inst.id)
        ]
    return body


async def get_one(
    session: AsyncSession, cipher: cfg.ConfigCipher, tenant_id: str, ref: str
) -> dict[str, Any]:
    inst = await repo.find(session, tenant_id, ref)
    if inst is None:
        raise not_found("installation")
    return await read(session, cipher, inst, history=True)


async def list_page(
    session: AsyncSession,
    cipher: cfg.ConfigCipher,
    tenant_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    rows = await repo.page(session, tenant_id, after=cursor, limit=limit + 1)
    items = [await read(session, cipher, i) for i in rows[:limit]]
    return {"items": items, "next_cursor": rows[limit - 1].slug if len(rows) > limit else None}


# --- planning ---------------------------------------------------------------------------------


async def _load_index(
    session: AsyncSession, slugs: Sequence[str]
) -> tuple[
    dict[str, list[Candidate]], dict[tuple[str, str], CatalogVersion], dict[str, CatalogPlugin]
]:
    """Every published version of the plugins reachable from ``slugs`` through any version's
    dependencies, and their plugins by slug (one query)."""
    index: dict[str, list[Candidate]] = {}
    rows: dict[tuple[str, str], CatalogVersion] = {}
    plugins: dict[str, CatalogPlugin] = {}
    for v, p in await catalog.closure(session, slugs):
        rows[(v.slug, v.version)] = v
        plugins[p.slug] = p
        index.setdefault(v.slug, []).append(
            Candidate(v.slug, v.version, dict(v.dependencies or {}), v.yanked)
        )
    return index, rows, plugins


def _consent_problem(missing: set[str]) -> Problem:
    names = sorted(missing)
    return Problem(
        422,
        "consent-required",
        "The plan needs permissions you did not accept: " + ", ".join(names),
        errors=[field_error("accept_permissions", f"must include {n}") for n in names],
        missing_permissions=names,
    )


async def install(
    session: AsyncSession,
    emit: Emit,
    cipher: cfg.ConfigCipher,
    tenant_id: str,
    actor: str,
    req: InstallCreate,
) -> tuple[int, dict[str, Any]]:
    """Resolves, checks and (unless ``dry_run``) records a plan; the worker executes it."""
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
        await repo.lock_tenant(session, tenant_id)
    plugin = await catalog.get_plugin(session, req.plugin)
    if plugin is None:
        raise not_found("plugin")
    if plugin.banned:
        raise _banned(plugin)
    tenant_rows = {i.plugin_id: i for i in await repo.tenant_view(session, tenant_id)}
    existing = tenant_rows.get(plugin.plugin_id)
    if existing is not None and existing.state not in (S.UNINSTALLED, S.FAILED):
        raise Problem(
            409,
            "already-installed",
            f"{plugin.slug} is already installed in this tenant ({existing.state})",
            current_state=existing.state,
        )
    live = {
        i.slug: i.version
        for i in tenant_rows.values()
        if i.state not in (S.UNINSTALLED, S.FAILED, S.AVAILABLE)
    }
    index, rows, plugins = await _load_index(session, [plugin.slug, *live])
    try:
        resolution = resolve(index, [Requirement(plugin.slug, req.version or "*")], locked=live)
    except ResolverError as exc:
        raise Problem(409, "unresolvable", f"Cannot install {plugin.slug}: {exc}") from None

    new = [c for c in resolution.order if c.slug not in live]
    banned = [plugins[c.slug] for c in new if plugins[c.slug].banned]
    if banned:
        raise Problem(
            410,
            "plugin-banned",
            "The plan needs banned plugins: " + ", ".join(p.slug for p in banned),
        )

    items: list[dict[str, Any]] = []
    needed: set[str] = set()
    config_errors: list[dict[str, str]] = []
    charges: dict[str, entitlements.Charge] = {}
    configs: dict[str, dict[str, Any]] = {}
    ledger = await entitlements.charges_for(
        session,
        tenant_id,
        {rows[(c.slug, c.version)].plugin_id: rows[(c.slug, c.version)].pricing for c in new},
    )
    for c in new:
        v = rows[(c.slug, c.version)]
        is_root = c.slug == plugin.slug
        given = req.config if is_root else req.dependency_config.get(c.slug, {})
        prefix = "config" if is_root else f"dependency_config.{c.slug}"
        errors = cfg.validate_config(v.config_schema, given, prefix)
        config_errors += errors
        configs[c.slug] = given
        charge = ledger.charges[v.plugin_id]
        charges[c.slug] = charge
        needed |= set(v.permissions)
        items.append(
            {
                "plugin": c.slug,
                "plugin_id": str(v.plugin_id),
                "version": c.version,
                "role": "requested" if is_root else "dependency",
                "permissions": list(v.permissions),
                "pricing": v.pricing,
                "charge": charge.as_dict(),
                "config_errors": errors,
                "signed": v.signature is not None,
                "yanked": v.yanked,
            }
        )
    missing = missing_permissions(req.accept_permissions, needed)
    plan: dict[str, Any] = {
        "items": items,
        "kept": [
            {"plugin": c.slug, "version": c.version} for c in resolution.order if c.slug in live
        ],
        "permissions": sorted(needed),
        "missing_permissions": sorted(missing),
        "config_errors": config_errors,
        "payment_required": [s for s, ch in charges.items() if ch.kind == "payment_required"],
    }
    if req.dry_run:
        return 200, {"dry_run": True, "plan": plan}

    if req.plan is not None:
        wanted = [(p.plugin, p.version) for p in req.plan]
        if wanted != [(c.slug, c.version) for c in new]:
            raise Problem(
                409,
                "plan-changed",
                "The plan changed since it was shown; review the new plan",
                plan=plan,
            )
    if missing:
        raise _consent_problem(missing)
    if config_errors:
        raise _config_invalid(config_errors)
    if plan["payment_required"]:
        details = "; ".join(f"{s}: {charges[s].detail}" for s in plan["payment_required"])
        raise Problem(
            409,
            "payment-required",
            f"A paid entitlement is needed first ({details})",
            plugins=plan["payment_required"],
        )

    plan_id = uuid.uuid4()
    root: Installation | None = None
    new_rows: list[Installation] = []
    again: list[Installation] = []  # installed before (uninstalled or failed): rows written back
    dependent_rows: list[Base] = []
    events: list[EventPayload] = []
    current: dict[uuid.UUID, Entitlement | None] = {}
    # New rows (installations and the rows that reference them: history, consents, ledger) and
    # the rows of plugins installed again are written in one plain-SQL statement (ADR 0010),
    # under the tenant's plan lock, with the plan's events (ADR 0001: their outbox ids are drawn
    # under that lock).
    # The root is created first so its id can be named by the dependencies it pulled in.
    for position, c in sorted(enumerate(new), key=lambda pc: pc[1].slug != plugin.slug):
        v = rows[(c.slug, c.version)]
        inst = tenant_rows.get(v.plugin_id)
        action = A.INSTALL_REQUESTED
        if inst is None:
            inst = new_row(
                Installation,
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                plugin_id=v.plugin_id,
                slug=c.slug,
                version=c.version,
                state=S.AVAILABLE.value,
                sequence=0,
                attempt=1,
                config={},
                granted_permissions=[],
                created_at=_now(),
            )
            new_rows.append(inst)
        elif inst.state == S.FAILED:
            action = A.RETRY
            inst.attempt += 1
            again.append(inst)
        else:
            inst.attempt += 1
            again.append(inst)
        public, secrets = cfg.split_secrets(v.config_schema, configs[c.slug])
        inst.version = c.version
        inst.digest = v.digest
        inst.plan_id = plan_id
        inst.plan_position = position
        inst.dependency_of = None if root is None else root.id
        inst.enable_requested = req.enable
        inst.config = public
        inst.secret_config = cipher.encrypt(secrets)
        inst.granted_permissions = list(v.permissions)
        inst.status_reason = None
        inst.retryable = None
        inst.previous_state = None
        inst.target_version = None
        dependent_rows.append(_move(inst, action, actor=actor, plain=True))
        if c.slug == plugin.slug:
            root = inst
        dependent_rows.append(
            new_row(
                Consent,
                tenant_id=tenant_id,
                installation_id=inst.id,
                plugin_id=v.plugin_id,
                version=c.version,
                permissions=list(v.permissions),
                granted_by=actor,
                granted_at=_now(),
            )
        )
        active = ledger.active[v.plugin_id]
        rows_charged, charged = entitlements.prepare_charge(
            tenant_id,
            v.plugin_id,
            c.slug,
            charges[c.slug],
            active,
            str(v.pricing.get("currency", "USD")),
        )
        dependent_rows += rows_charged
        ledger_row = next((r for r in rows_charged if isinstance(r, Entitlement)), None)
        current[v.plugin_id] = entitlements.pick_current(
            [ledger_row, *active] if ledger_row else active
        )
        events += charged
        events.append(
            InstallationRequestedV1.model_validate(
                {
                    **_base(inst, actor),
                    "granted_permissions": list(v.permissions),
                    "enable": req.enable,
                    "dependency_of": inst.dependency_of,
                    "attempt": inst.attempt,
                }
            )
        )
    for payload in events:
        await emit(payload, tenant_id)
    await repo.save(session, [*new_rows, *dependent_rows], changed=again)
    assert root is not None  # sorted first
    plan["plan_id"] = str(plan_id)
    # Installed-again rows are the tenant's own objects, changed in place.
    by_slug = {i.slug: i for i in (*tenant_rows.values(), *new_rows)}
    body = await read(
        session,
        cipher,
        root,
        version=rows[(root.slug, root.version)],
        entitlement=current[root.plugin_id],
        tenant=by_slug,
    )
    return 202, {"installation": body, "plan": plan}


# --- execution (worker) -----------------------------------------------------------------------


@dataclass
class _Catalog:
    """The projection rows an executor batch needs, read once for the whole batch."""

    versions: dict[tuple[uuid.UUID, str], CatalogVersion]
    plugins: dict[uuid.UUID, CatalogPlugin]
    keys: dict[tuple[str, str], PublisherKey]

    @classmethod
    async def load(cls, session: AsyncSession, wanted: Sequence[tuple[uuid.UUID, str]]) -> _Catalog:
        versions = await catalog.versions_by_key(session, wanted)
        plugins = await catalog.plugins_by_id(session, {p for p, _ in wanted})
        keys = await catalog.keys_by_id(
            session,
            {
                (v.publisher_id, v.signing_key_id)
                for v in versions.values()
                if v.signing_key_id is not None
            },
        )
        return cls(versions, plugins, keys)


async def _materialize(
    session: AsyncSession,
    ex: Executor,
    plugin_id: uuid.UUID,
    version: str,
    known: _Catalog | None = None,
) -> tuple[CatalogVersion, bool]:
    """Checks signature and digest and unpacks the package; True when this call unpacked it."""
    if known is None:
        known = await _Catalog.load(session, [(plugin_id, version)])
    v = known.versions.get((plugin_id, version))
    if v is None:
        raise ArtifactError(f"version {version} is not in the catalog projection", retryable=True)
    plugin = known.plugins.get(plugin_id)
    if plugin is not None and plugin.banned:
        raise ArtifactError("the plugin was banned", retryable=False)
    if v.signature is None or v.signing_key_id is None:
        if not ex.allow_unsigned:
            raise ArtifactError(
                "the package is unsigned and unsigned packages are not allowed", retryable=False
            )
    else:
        key = known.keys.get((v.publisher_id, v.signing_key_id))
        if key is None:
            raise ArtifactError(
                f"signing key {v.signing_key_id} of publisher {v.publisher_id} is not known",
                retryable=True,
            )
        if key.revoked_at is not None:
            raise ArtifactError(f"signing key {v.signing_key_id} was revoked", retryable=False)
        if not verify_signature(v.digest, v.signature, key.public_key):
            raise ArtifactError("the publisher's signature does not verify", retryable=False)
    if ex.store.has(v.digest):
        return v, False
    data = await ex.source.fetch(v.digest)
    actual = sha256_hex(data)
    if actual != v.digest:
        raise ArtifactError(
            f"sha-256 of the package is {actual}, expected {v.digest}", retryable=False
        )
    try:
        fresh = await asyncio.to_thread(ex.store.unpack, v.digest, data)
    except OSError as exc:
        raise ArtifactError(f"could not unpack: {exc}", retryable=True) from exc
    return v, fresh


async def execute_installs(
    session: AsyncSession, emit: Emit, ex: Executor, installation_ids: Sequence[uuid.UUID]
) -> None:
    """Executes the plans of ``installation_ids`` (a consumer batch), each whole or not at all,
    in plan-id order; plans already executed are skipped.

    The batch reads its rows with a handful of queries (installations, the plans' rows locked in
    one statement, the catalog rows, the tenants' installations) instead of a few per plan, and
    its state changes are written once, at the end: every row changed here is locked by
    ``of_plans`` first, so emitting before the write keeps each installation's events in
    order."""
    asked = await repo.by_ids(session, installation_ids)
    plan_ids = sorted(
        {i.plan_id for i in asked if i.plan_id is not None and i.state == S.INSTALLING}
    )
    if not plan_ids:
        return
    plans: dict[uuid.UUID, list[Installation]] = {}
    for m in await repo.of_plans(session, plan_ids):
        assert m.plan_id is not None
        plans.setdefault(m.plan_id, []).append(m)
    work = {
        plan_id: (members, [m for m in members if m.state == S.INSTALLING])
        for plan_id, members in plans.items()
    }
    work = {k: w for k, w in work.items() if w[1]}
    if not work:
        return
    known = await _Catalog.load(
        session, sorted({(m.plugin_id, m.version) for _, p in work.values() for m in p})
    )
    tenants = sorted({p[0].tenant_id for _, p in work.values()})
    tenant_versions: dict[str, dict[str, str]] = {}
    succeeded: list[tuple[list[Installation], dict[uuid.UUID, CatalogVersion]]] = []
    moves = _Moves()
    for plan_id in plan_ids:
        if plan_id in work:
            members, pending = work[plan_id]
            versions = await _materialize_plan(session, emit, ex, moves, members, pending, known)
            if versions is not None:
                succeeded.append((pending, versions))
    if succeeded:
        for row in await repo.of_tenants(session, tenants):
            tenant_versions.setdefault(row.tenant_id, {})[row.slug] = row.version
    for pending, versions in succeeded:
        for m in pending:
            v = versions[m.id]
            mine = tenant_versions.get(m.tenant_id, {})
            moves.apply(m, A.INSTALL_SUCCEEDED)
            await emit(
                InstallationInstalledV1.model_validate(
                    {
                        **_base(m, None),
                        "granted_permissions": m.granted_permissions,
                        "hooks": _hooks(v),
                        "dependencies": {d: mine[d] for d in sorted(v.dependencies) if d in mine},
                    }
                ),
                m.tenant_id,
            )
        for m in pending:  # plan order: dependencies are enabled before their dependents
            if m.enable_requested:
                moves.apply(m, A.ENABLE)
                await emit(
                    InstallationEnabledV1.model_validate(
                        {
                            **_base(m, None),
                            "granted_permissions": m.granted_permissions,
                            "hooks": _hooks(versions[m.id]),
                        }
                    ),
                    m.tenant_id,
                )
    await moves.save(session)


async def _materialize_plan(
    session: AsyncSession,
    emit: Emit,
    ex: Executor,
    moves: _Moves,
    members: Sequence[Installation],
    pending: Sequence[Installation],
    known: _Catalog,
) -> dict[uuid.UUID, CatalogVersion] | None:
    """The plan's versions once every package is in place; None when the plan failed (then
    every pending member is Failed and what this plan unpacked is removed again)."""
    unpacked: list[str] = []
    versions: dict[uuid.UUID, CatalogVersion] = {}
    for m in pending:
        try:
            v, fresh = await _materialize(session, ex, m.plugin_id, m.version, known)
        except ArtifactError as exc:
            await _fail_plan(session, emit, ex, moves, members, pending, unpacked, m, exc)
            return None
        versions[m.id] = v
        if fresh:
            unpacked.append(v.digest)
    return versions


async def _fail_plan(
    session: AsyncSession,
    emit: Emit,
    ex: Executor,
    moves: _Moves,
    members: Sequence[Installation],
    pending: Sequence[Installation],
    unpacked: Sequence[str],
    culprit: Installation,
    error: ArtifactError,
) -> None:
    for digest in unpacked:
        if not await repo.digest_in_use(session, digest, [m.id for m in members]):
            await asyncio.to_thread(ex.store.remove, digest)
    what = f"{culprit.slug}@{culprit.version}"
    for m in pending:
        reason = f"{what}: {error}" if m is culprit else f"plan aborted: {what} failed: {error}"
        m.status_reason = reason
        m.retryable = error.retryable
        moves.apply(m, A.INSTALL_FAILED, reason=reason)
        await emit(
            InstallationFailedV1.model_validate(
                {
                    **_base(m, None),
                    "operation": "install",
                    "reason": reason[:2000],
                    "retryable": error.retryable,
                }
            ),
            m.tenant_id,
        )


async def execute_upgrade(
    session: AsyncSession, emit: Emit, ex: Executor, installation_id: uuid.UUID
) -> None:
    inst = await repo.get(session, installation_id, lock=True)
    if inst is None or inst.state != S.UPDATING or not inst.target_version:
        return
    previous = S(inst.previous_state or S.INSTALLED)
    target = inst.target_version
    try:
        v, _ = await _materialize(session, ex, inst.plugin_id, target)
        full = cfg.join(inst.config or {}, ex.cipher.decrypt(inst.secret_config))
        errors = cfg.validate_config(v.config_schema, full, "config")
        if errors:
            raise ArtifactError(
                "the current config does not fit the new version's schema: "
                + ", ".join(e["field"] for e in errors),
                retryable=False,
            )
    except ArtifactError as exc:
        old = inst.version
        inst.status_reason = f"upgrade to {target} failed: {exc}"
        inst.retryable = exc.retryable
        inst.target_version = None
        inst.previous_state = None
        await transition(
            session,
            inst,
            A.UPGRADE_FAILED,
            actor=None,
            reason=inst.status_reason,
            previous=previous,
        )
        await emit(
            InstallationFailedV1.model_validate(
                {
                    **_base(inst, None),
                    "version": old,
                    "operation": "upgrade",
                    "reason": inst.status_reason[:2000],
                    "retryable": exc.retryable,
                    "to_version": target,
                }
            ),
            inst.tenant_id,
        )
        return
    old = inst.version
    inst.version = target
    inst.digest = v.digest
    inst.granted_permissions = list(v.permissions)
    inst.target_version = None
    inst.previous_state = None
    inst.status_reason = None
    inst.retryable = None
    await transition(session, inst, A.UPGRADE_SUCCEEDED, actor=None, previous=previous)
    await emit(
        InstallationUpgradedV1.model_validate(
            {
                **_base(inst, None),
                "from_version": old,
                "to_version": target,
                "granted_permissions": inst.granted_permissions,
                "hooks": _hooks(v),
            }
        ),
        inst.tenant_id,
    )


async def execute_uninstall(session: AsyncSession, emit: Emit, installation_id: uuid.UUID) -> None:
    inst = await repo.get(session, installation_id, lock=True)
    if inst is None or inst.state != S.UNINSTALLING:
        return
    inst.enable_requested = False
    await transition(session, inst, A.UNINSTALL_SUCCEEDED, actor=None)
    await emit(InstallationUninstalledV1.model_validate(_base(inst, None)), inst.tenant_id)


# --- tenant actions ---------------------------------------------------------------------------


async def _locked(session: AsyncSession, tenant_id: str, ref: str) -> Installation:
    await repo.lock_tenant(session, tenant_id)
    inst = await repo.find(session, tenant_id, ref, lock=True)
    if inst is None:
        raise not_found("installation")
    return inst


async def _deps_of(session: AsyncSession, inst: Installation) -> dict[str, str]:
    v = await catalog.get_version(session, inst.plugin_id, inst.version)
    return dict(v.dependencies) if v else {}


async def _dependents(
    session: AsyncSession, tenant_rows: Sequence[Installation], slug: str, states: Sequence[str]
) -> list[Installation]:
    """Installations in ``states`` that depend on ``slug``, transitively, dependents last."""
    out: list[Installation] = []
    frontier = [slug]
    seen = {slug}
    deps = {i.slug: await _deps_of(session, i) for i in tenant_rows}
    while frontier:
        current = frontier.pop(0)
        for i in tenant_rows:
            if i.slug not in seen and i.state in states and current in deps[i.slug]:
                seen.add(i.slug)
                out.append(i)
                frontier.append(i.slug)
    return out


async def _disable(
    session: AsyncSession,
    emit: Emit,
    inst: Installation,
    actor: str | None,
    *,
    reason: str | None,
    cause: str,
) -> None:
    inst.status_reason = reason
    await transition(session, inst, A.DISABLE, actor=actor, reason=reason)
    await emit(
        InstallationDisabledV1.model_validate(
            {**_base(inst, actor), "reason": reason, "cause": cause}
        ),
        inst.tenant_id,
    )


async def enable(
    session: AsyncSession,
    emit: Emit,
    cipher: cfg.ConfigCipher,
    tenant_id: str,
    actor: str,
    ref: str,
) -> dict[str, Any]:
    inst = await _locked(session, tenant_id, ref)
    plugin = await catalog.get_plugin(session, inst.plugin_id)
    if plugin is not None and plugin.banned:
        raise _banned(plugin)
    deps = await _deps_of(session, inst)
    rows = {i.slug: i for i in await repo.of_tenant(session, tenant_id)}
    not_enabled = sorted(d for d in deps if d not in rows or rows[d].state != S.ENABLED)
    if not_enabled and inst.state in (S.INSTALLED, S.DISABLED):
        raise Problem(
            409,
            "dependencies-not-enabled",
            f"{inst.slug} needs its dependencies enabled first: {', '.join(not_enabled)}",
            current_state=inst.state,
            dependencies=not_enabled,
        )
    await transition(session, inst, A.ENABLE, actor=actor)
    inst.status_reason = None
    v = await catalog.get_version(session, inst.plugin_id, inst.version)
    await emit(
        InstallationEnabledV1.model_validate(
            {
                **_base(inst, actor),
                "granted_permissions": inst.granted_permissions,
                "hooks": _hooks(v),
            }
        ),
        tenant_id,
    )
    return await read(session, cipher, inst)


async def disable(
    session: AsyncSession,
    emit: Emit,
    cipher: cfg.ConfigCipher,
    tenant_id: str,
    actor: str,
    ref: str,
    body: DisableCreate,
) -> dict[str, Any]:
    inst = await _locked(session, tenant_id, ref)
    if inst.state != S.ENABLED:
        raise _not_now(inst, "disable")
    rows = await repo.of_tenant(session, tenant_id, lock=True)
    dependents = await _dependents(session, rows, inst.slug, [S.ENABLED])
    if dependents and body.cascade == "none":
        names = [d.slug for d in dependents]
        raise Problem(
            409,
            "has-dependents",
            f"{inst.slug} is needed by enabled plugins: {', '.join(names)}; "
            "send cascade=disable to disable them too",
            current_state=inst.state,
            dependents=names,
        )
    for d in reversed(dependents):
        await _disable(
            session, emit, d, actor, reason=f"{inst.slug} was disabled", cause="dependency_disabled"
        )
    await _disable(session, emit, inst, actor, reason=body.reason, cause="requested")
    return await read(session, cipher, inst)


async def uninstall(
    session: AsyncSession,
    emit: Emit,
    cipher: cfg.ConfigCipher,
    tenant_id: str,
    actor: str,
    ref: str,
    body: UninstallCreate,
) -> dict[str, Any]:
    inst = await _locked(session, tenant_id, ref)
    rows = await repo.of_tenant(session, tenant_id, lock=True)
    live = [S.INSTALLING, S.INSTALLED, S.ENABLED, S.DISABLED, S.UPDATING]
    dependents = await _dependents(session, rows, inst.slug, live)
    if dependents and body.cascade == "none":
        names = [d.slug for d in dependents]
        raise Problem(
            409,
            "has-dependents",
            f"{inst.slug} is needed by: {', '.join(names)}; send cascade=disable or "
            "cascade=uninstall to say what happens to them",
            current_state=inst.state,
            dependents=names,
        )
    # Validate the target's own transition before touching dependents.
    if not _allowed(inst, A.UNINSTALL_REQUESTED):
        raise _not_now(inst, "uninstall")
    for d in reversed(dependents):
        if body.cascade == "disable":
            if d.state == S.ENABLED:
                await _disable(
                    session,
                    emit,
                    d,
                    actor,
                    reason=f"{inst.slug} was uninstalled",
                    cause="dependency_disabled",
                )
        else:
            await _request_uninstall(session, emit, d, actor, "uninstall")
    await _request_uninstall(session, emit, inst, actor, body.cascade)
    return await read(session, cipher, inst)


def _allowed(inst: Installation, action: InstallationAction) -> bool:
    try:
        apply_transition(S(inst.state), action)
    except IllegalTransition:
        return False
    return True


async def _request_uninstall(
    session: AsyncSession, emit: Emit, inst: Installation, actor: str, cascade: str
) -> None:
    await transition(session, inst, A.UNINSTALL_REQUESTED, actor=actor)
    await emit(
        InstallationUninstallRequestedV1.model_validate({**_base(inst, actor), "cascade": cascade}),
        inst.tenant_id,
    )


async def update_config(
    session: AsyncSession,
    emit: Emit,
    cipher: cfg.ConfigCipher,
    tenant_id: str,
    actor: str,
    ref: str,
    body: ConfigUpdate,
) -> dict[str, Any]:
    inst = await _locked(session, tenant_id, ref)
    if not _allowed(inst, A.CONFIG_UPDATE):
        raise _not_now(inst, "change the config of")
    v = await catalog.get_version(session, inst.plugin_id, inst.version)
    schema = v.config_schema if v else None
    stored = cipher.decrypt(inst.secret_config)
    full = cfg.merge_for_update(schema, inst.config or {}, stored, body.config)
    errors = cfg.validate_config(schema, full, "config")
    if errors:
        raise _config_invalid(errors)
    before = cfg.join(inst.config or {}, stored)
    public, secrets = cfg.split_secrets(schema, full)
    changed = sorted(k for k in set(before) | set(full) if before.get(k) != full.get(k))
    inst.config = public
    inst.secret_config = cipher.encrypt(secrets)
    await transition(session, inst, A.CONFIG_UPDATE, actor=actor)
    await emit(
        InstallationConfigUpdatedV1.model_validate({**_base(inst, actor), "changed_keys": changed}),
        tenant_id,
    )
    return await read(session, cipher, inst)


async def upgrade(
    session: AsyncSession,
    emit: Emit,
    cipher: cfg.ConfigCipher,
    tenant_id: str,
    actor: str,
    ref: str,
    body: UpgradeCreate,
) -> dict[str, Any]:
    inst = await _locked(session, tenant_id, ref)
    if not _allowed(inst, A.UPGRADE_REQUESTED):
        raise _not_now(inst, "upgrade")
    if body.version == inst.version:
        raise Problem(
            409,
            "same-version",
            f"{inst.slug} already runs {inst.version}",
            current_state=inst.state,
        )
    plugin = await catalog.get_plugin(session, inst.plugin_id)
    if plugin is not None and plugin.banned:
        raise _banned(plugin)
    target = await catalog.get_version(session, inst.plugin_id, body.version)
    if target is None:
        raise Problem(
            422,
            "validation-error",
            f"{inst.slug} has no published version {body.version}",
            errors=[field_error("version", "is not a published version of this plugin")],
        )
    rows = await repo.of_tenant(session, tenant_id)
    live = {
        i.slug: i.version
        for i in rows
        if i.state not in (S.UNINSTALLED, S.FAILED, S.AVAILABLE) and i.slug != inst.slug
    }
    index, _, _ = await _load_index(session, [inst.slug, *live])
    try:
        resolution = resolve(index, [Requirement(inst.slug, f"={body.version}")], locked=live)
    except ResolverError as exc:
        raise Problem(409, "unresolvable", f"Cannot upgrade {inst.slug}: {exc}") from None
    extra = [c.label for c in resolution.order if c.slug not in live and c.slug != inst.slug]
    if extra:
        raise Problem(
            409,
            "unresolvable",
            f"Upgrading {inst.slug} to {body.version} needs plugins that are not installed: "
            f"{', '.join(extra)}; install them first",
        )
    new_permissions = missing_permissions(inst.granted_permissions or [], target.permissions)
    missing = missing_permissions(body.accept_permissions, new_permissions)
    if missing:
        raise _consent_problem(missing)
    inst.previous_state = inst.state
    inst.target_version = body.version
    await transition(session, inst, A.UPGRADE_REQUESTED, actor=actor)
    session.add(
        Consent(
            tenant_id=tenant_id,
            installation_id=inst.id,
            plugin_id=inst.plugin_id,
            version=body.version,
            permissions=list(target.permissions),
            granted_by=actor,
            granted_at=_now(),
        )
    )
    await emit(
        InstallationUpgradeRequestedV1.model_validate(
            {
                **_base(inst, actor),
                "to_version": body.version,
                "granted_permissions": list(target.permissions),
            }
        ),
        tenant_id,
    )
    return await read(session, cipher, inst)


# --- reactions to the catalog -----------------------------------------------------------------


async def ban(session: AsyncSession, emit: Emit, plugin_id: uuid.UUID) -> int:
    """Disables every installed, enabled or disabled installation of a banned plugin, in every
    tenant, with reason "banned", and the enabled plugins that depend on it (they cannot run
    without it: the same rule as a disable with cascade). Returns how many were banned."""
    rows = await repo.of_plugin(session, plugin_id, [s.value for s in SETTLED])
    for inst in rows:
        tenant_rows = await repo.of_tenant(session, inst.tenant_id, lock=True)
        for dependent in reversed(await _dependents(session, tenant_rows, inst.slug, [S.ENABLED])):
            await _disable(
                session,
                emit,
                dependent,
                None,
                reason=f"{inst.slug} was banned",
                cause="dependency_disabled",
            )
        await ban_one(session, emit, inst)
    return len(rows)


async def ban_one(session: AsyncSession, emit: Emit, inst: Installation) -> None:
    inst.status_reason = "banned"
    await transition(session, inst, A.BAN, actor=None, reason="banned")
    await emit(
        InstallationDisabledV1.model_validate(
            {**_base(inst, None), "reason": "banned", "cause": "plugin_banned"}
        ),
        inst.tenant_id,
    )
