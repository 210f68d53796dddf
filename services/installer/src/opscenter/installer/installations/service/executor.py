"""The executor: the worker's side of installs, upgrades and uninstalls.

Invariants:
- A plan is applied whole or not at all: its installations are executed together in one
  transaction; if any package fails, every installation of the plan goes to Failed and the
  folders this execution unpacked are removed again.
- Every row an install batch changes is locked first (``repository.plans_for_update``) and
  written back once, at the end, with its history rows and events (``Moves``), so emitting
  before the write keeps each installation's events in order.
- A redelivered request finds its installation no longer in the state that asked for work
  and does nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    InstallationAction,
    InstallationEnabledV1,
    InstallationFailedV1,
    InstallationInstalledV1,
    InstallationState,
    InstallationUninstalledV1,
    InstallationUpgradedV1,
)
from opscenter.installer import config as cfg
from opscenter.installer.catalog import repository as catalog
from opscenter.installer.events import Emit
from opscenter.installer.installations import repository as repo
from opscenter.installer.installations.service.transitions import (
    Moves,
    config_set,
    event_fields,
    hooks_of,
    transition,
)
from opscenter.installer.models import CatalogPlugin, CatalogVersion, Installation, PublisherKey
from opscenter.servicekit.artifacts import (
    ArtifactError,
    ArtifactSource,
    ArtifactUnavailable,
    InstallStore,
    sha256_hex,
    verify_signature,
)


@dataclass
class Executor:
    """What the worker needs to materialise packages."""

    source: ArtifactSource
    store: InstallStore
    cipher: cfg.ConfigCipher
    allow_unsigned: bool = False
    #: How long a plan waits for the catalog projection to catch up with it (a version or a
    #: signing key it needs not learned yet) before the plan fails, retryable.
    projection_wait: timedelta = timedelta(minutes=5)


class ProjectionBehind(ArtifactUnavailable):
    """The catalog projection lacks a version or key the plan needs. The catalog published it
    before the plan could be made, so it is on its way (``catalog.plugin`` and
    ``catalog.publisher`` are separate topics): the consumer rewinds and runs the plan again,
    until ``Executor.projection_wait`` has passed since the plan was written."""


def _waited_too_long(ex: Executor, inst: Installation) -> bool:
    return datetime.now(UTC) - inst.updated_at > ex.projection_wait


@dataclass
class _Catalog:
    """The projection rows an executor batch needs, read once for the whole batch."""

    versions: dict[tuple[uuid.UUID, str], CatalogVersion]
    plugins: dict[uuid.UUID, CatalogPlugin]
    keys: dict[tuple[str, str], PublisherKey]

    @classmethod
    async def load(cls, session: AsyncSession, wanted: Sequence[tuple[uuid.UUID, str]]) -> _Catalog:
        versions = await catalog.version_snapshots(session, wanted)
        plugins = await catalog.plugin_snapshots(session, {p for p, _ in wanted})
        keys = await catalog.key_snapshots(
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
        raise ProjectionBehind(f"version {version} is not in the catalog projection")
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
            raise ProjectionBehind(
                f"signing key {v.signing_key_id} of publisher {v.publisher_id} is not known"
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
    ``plans_for_update`` first, so emitting before the write keeps each installation's events in
    order."""
    asked = await repo.snapshots_by_id(session, installation_ids)
    plan_ids = sorted(
        {
            i.plan_id
            for i in asked
            if i.plan_id is not None and i.state == InstallationState.INSTALLING
        }
    )
    if not plan_ids:
        return
    plans: dict[uuid.UUID, list[Installation]] = {}
    for m in await repo.plans_for_update(session, plan_ids):
        assert m.plan_id is not None
        plans.setdefault(m.plan_id, []).append(m)
    work = {
        plan_id: (members, [m for m in members if m.state == InstallationState.INSTALLING])
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
    moves = Moves()
    for plan_id in plan_ids:
        if plan_id in work:
            members, pending = work[plan_id]
            versions = await _materialize_plan(session, emit, ex, moves, members, pending, known)
            if versions is not None:
                succeeded.append((pending, versions))
    if succeeded:
        for row in await repo.tenants_snapshots(session, tenants):
            tenant_versions.setdefault(row.tenant_id, {})[row.slug] = row.version
    for pending, versions in succeeded:
        for m in pending:
            v = versions[m.id]
            mine = tenant_versions.get(m.tenant_id, {})
            moves.apply(m, InstallationAction.INSTALL_SUCCEEDED)
            await emit(
                InstallationInstalledV1.model_validate(
                    {
                        **event_fields(m, None),
                        "granted_permissions": m.granted_permissions,
                        "hooks": hooks_of(v),
                        "dependencies": {d: mine[d] for d in sorted(v.dependencies) if d in mine},
                    }
                ),
                m.tenant_id,
            )
        for m in pending:  # plan order: dependencies are enabled before their dependents
            if m.enable_requested:
                moves.apply(m, InstallationAction.ENABLE)
                await emit(
                    InstallationEnabledV1.model_validate(
                        {
                            **event_fields(m, None),
                            "granted_permissions": m.granted_permissions,
                            "hooks": hooks_of(versions[m.id]),
                        }
                    ),
                    m.tenant_id,
                )
    await moves.save(session)


async def _materialize_plan(
    session: AsyncSession,
    emit: Emit,
    ex: Executor,
    moves: Moves,
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
        except ProjectionBehind as exc:
            if not _waited_too_long(ex, m):
                raise  # run again shortly, as below
            await _fail_plan(session, emit, ex, moves, members, pending, unpacked, m, exc)
            return None
        except ArtifactUnavailable:
            # The catalog is down, not the package bad: the consumer rewinds and runs the plan
            # again once the catalog answers (servicekit.consumer.is_transient).
            raise
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
    moves: Moves,
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
        moves.apply(m, InstallationAction.INSTALL_FAILED, reason=reason)
        await emit(
            InstallationFailedV1.model_validate(
                {
                    **event_fields(m, None),
                    "operation": "install",
                    "reason": reason[:2000],
                    "retryable": error.retryable,
                }
            ),
            m.tenant_id,
        )


async def _fail_upgrade(
    session: AsyncSession,
    emit: Emit,
    inst: Installation,
    target: str,
    previous: InstallationState,
    exc: ArtifactError,
) -> None:
    old = inst.version
    inst.status_reason = f"upgrade to {target} failed: {exc}"
    inst.retryable = exc.retryable
    inst.target_version = None
    inst.previous_state = None
    await transition(
        session,
        inst,
        InstallationAction.UPGRADE_FAILED,
        actor=None,
        reason=inst.status_reason,
        previous=previous,
    )
    await emit(
        InstallationFailedV1.model_validate(
            {
                **event_fields(inst, None),
                "version": old,
                "operation": "upgrade",
                "reason": inst.status_reason[:2000],
                "retryable": exc.retryable,
                "to_version": target,
            }
        ),
        inst.tenant_id,
    )


async def execute_upgrade(
    session: AsyncSession, emit: Emit, ex: Executor, installation_id: uuid.UUID
) -> None:
    inst = await repo.get(session, installation_id, lock=True)
    if inst is None or inst.state != InstallationState.UPDATING or not inst.target_version:
        return
    previous = InstallationState(inst.previous_state or InstallationState.INSTALLED)
    target = inst.target_version
    try:
        v, _ = await _materialize(session, ex, inst.plugin_id, target)
        stored = ex.cipher.decrypt(inst.secret_config)
        full = cfg.join(inst.config or {}, stored)
        errors = cfg.validate_config(v.config_schema, full, "config")
        if errors:
            raise ArtifactError(
                "the current config does not fit the new version's schema: "
                + ", ".join(e["field"] for e in errors),
                retryable=False,
            )
    except ArtifactUnavailable as exc:
        if not isinstance(exc, ProjectionBehind) or not _waited_too_long(ex, inst):
            raise  # the catalog is down or behind: run the upgrade again later (as installs)
        await _fail_upgrade(session, emit, inst, target, previous, exc)
        return
    except ArtifactError as exc:
        await _fail_upgrade(session, emit, inst, target, previous, exc)
        return
    old = inst.version
    # The new version's schema decides which fields are secret (and what was secret stays so).
    public, secrets = cfg.split_secrets(v.config_schema, full, also=stored)
    inst.config = public
    inst.secret_config = ex.cipher.encrypt(secrets)
    inst.version = target
    inst.digest = v.digest
    inst.granted_permissions = list(v.permissions)
    inst.target_version = None
    inst.previous_state = None
    inst.status_reason = None
    inst.retryable = None
    await transition(
        session, inst, InstallationAction.UPGRADE_SUCCEEDED, actor=None, previous=previous
    )
    await emit(
        InstallationUpgradedV1.model_validate(
            {
                **event_fields(inst, None),
                "from_version": old,
                "to_version": target,
                "granted_permissions": inst.granted_permissions,
                "hooks": hooks_of(v),
            }
        ),
        inst.tenant_id,
    )
    await emit(config_set(inst, ex.cipher, secrets, "upgrade", None), inst.tenant_id)


async def execute_uninstall(session: AsyncSession, emit: Emit, installation_id: uuid.UUID) -> None:
    inst = await repo.get(session, installation_id, lock=True)
    if inst is None or inst.state != InstallationState.UNINSTALLING:
        return
    inst.enable_requested = False
    await transition(session, inst, InstallationAction.UNINSTALL_SUCCEEDED, actor=None)
    await emit(InstallationUninstalledV1.model_validate(event_fields(inst, None)), inst.tenant_id)
