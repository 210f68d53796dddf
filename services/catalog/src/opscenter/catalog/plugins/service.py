"""Publishing: registering plugins and signing keys, and publishing immutable versions.

Every refusal raises a ``Problem`` before anything is written; a version's blob is stored only
after every check passed, and before its rows commit (content addressing makes an orphan blob
harmless). Events are emitted after the rows they describe are written, under the plugin's row
lock, so a plugin's events leave in order.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from opscenter.catalog import compat, signing
from opscenter.catalog.artifacts import ArtifactStore
from opscenter.catalog.models import Plugin, PublisherKey
from opscenter.catalog.plugins import repository as repo
from opscenter.catalog.plugins.schemas import PluginCreate
from opscenter.catalog.ranking import BAYES_PRIOR_MEAN
from opscenter.contracts import (
    Manifest,
    ManifestError,
    PluginRegisteredV1,
    PluginUpdatedV1,
    PluginVersionPublishedV1,
    PublisherKeyRegisteredV1,
    PublisherKeyRevokedV1,
    load_manifest,
    parse_version,
)
from opscenter.contracts.catalog import artifact_path
from opscenter.contracts.packages import PackageLimits, PackageRejected, inspect_package
from opscenter.servicekit.errors import Problem, field_error, not_found
from opscenter.servicekit.uow import UnitOfWork

LISTING_FIELDS = ("name", "description", "type", "category", "tags", "pricing")


def listing_event_fields(p: Plugin) -> dict[str, object]:
    return {
        "plugin_id": p.id,
        "slug": p.slug,
        "publisher_id": p.publisher_id,
        "name": p.name,
        "description": p.description,
        "type": p.type,
        "category": p.category,
        "tags": list(p.tags),
        "pricing": p.pricing,
    }


async def register_plugin(uow: UnitOfWork, publisher_id: str, data: PluginCreate) -> Plugin:
    """A new plugin owned by ``publisher_id``; 409 when the slug is taken."""
    session = uow.session
    await repo.ensure_publisher(session, publisher_id)
    if await repo.slug_taken(session, data.slug):
        raise Problem(
            409,
            "slug-taken",
            f"The slug {data.slug!r} is already taken",
            errors=[field_error("body.slug", "is already taken")],
        )
    now = datetime.now(UTC)
    plugin = Plugin(
        id=uuid.uuid4(),
        slug=data.slug,
        publisher_id=publisher_id,
        name=data.name,
        description=data.description,
        type=data.type.value,
        category=data.category.value,
        tags=list(data.tags),
        pricing=data.pricing.model_dump(mode="json", exclude_none=True),
        is_free=data.pricing.free,
        verified=False,
        deprecated=False,
        rating_average=0.0,
        rating_count=0,
        rating_bayesian=BAYES_PRIOR_MEAN,
        install_count=0,
        download_count=0,
        created_at=now,
        updated_at=now,
    )
    await repo.add_plugin(session, plugin)
    await uow.emit(PluginRegisteredV1.model_validate(listing_event_fields(plugin)))
    return plugin


async def my_plugins(
    uow: UnitOfWork, publisher_id: str, *, after: str | None, limit: int
) -> Sequence[Plugin]:
    return await repo.plugins_of(uow.session, publisher_id, after=after, limit=limit)


# -- signing keys -------------------------------------------------------------------------------


async def register_key(uow: UnitOfWork, publisher_id: str, public_key: str) -> PublisherKey:
    try:
        raw = signing.parse_public_key(public_key)
    except signing.InvalidPublicKey as exc:
        raise Problem(
            422,
            "invalid-public-key",
            f"The public key {exc}",
            errors=[field_error("body.public_key", str(exc))],
        ) from exc
    session = uow.session
    await repo.ensure_publisher(session, publisher_id)
    key = PublisherKey(
        id=uuid.uuid4(),
        publisher_id=publisher_id,
        algorithm="ed25519",
        public_key=raw,
        fingerprint=signing.fingerprint(raw),
    )
    if not await repo.add_key(session, key):
        # Both 409: whose key it is stays unsaid, only that it is not this publisher's to take.
        owner = await repo.key_owner(session, key.fingerprint)
        if owner == (publisher_id, True):
            # A revoked key stays revoked: what it signed must not become trusted again.
            raise Problem(
                409,
                "key-revoked",
                "You revoked this key; a revoked key cannot be registered again. Make a new one",
                errors=[field_error("body.public_key", "was revoked")],
            )
        if owner is not None and owner[0] == publisher_id:
            raise Problem(
                409,
                "key-exists",
                "This key is already registered for your publisher",
                errors=[field_error("body.public_key", "is already registered")],
            )
        raise Problem(
            409,
            "key-taken",
            "This key is registered by another publisher; sign with a key of your own",
            errors=[field_error("body.public_key", "is registered by another publisher")],
        )
    await uow.emit(
        PublisherKeyRegisteredV1(
            publisher_id=publisher_id,
            key_id=key.id,
            public_key=base64.b64encode(raw).decode(),
            algorithm="ed25519",
            fingerprint=key.fingerprint,
            registered_at=key.created_at,
        )
    )
    return key


async def list_keys(uow: UnitOfWork, publisher_id: str) -> Sequence[PublisherKey]:
    return await repo.keys_of(uow.session, publisher_id)


async def revoke_key(uow: UnitOfWork, publisher_id: str, key_id: uuid.UUID) -> PublisherKey:
    """Revokes once; revoking again answers the revoked key and emits nothing new."""
    key = await repo.get_key(uow.session, publisher_id, key_id, for_update=True)
    if key is None:
        raise not_found("Signing key")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await uow.session.flush()
        await uow.emit(
            PublisherKeyRevokedV1(
                publisher_id=publisher_id, key_id=key.id, revoked_at=key.revoked_at
            )
        )
    return key


# -- publishing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A package already on local disk, hashed while it streamed in."""

    path: Path
    size: int
    sha256: bytes
    signature: str | None
    key_id: str | None
    changelog: str | None

    @property
    def digest(self) -> str:
        return self.sha256.hex()


@dataclass(frozen=True)
class Published:
    plugin: Plugin
    version: str
    digest: str
    size: int
    signature: str | None
    signing_key_id: uuid.UUID | None
    published_at: datetime
    manifest: Manifest


def _problem_from_rejection(exc: PackageRejected) -> Problem:
    return Problem(
        exc.status,
        exc.kind,
        exc.detail,
        errors=[field_error(f, m) for f, m in exc.errors],
    )


async def read_manifest(upload: Upload, limits: PackageLimits) -> Manifest:
    """Checks the archive and its ``plugin.yaml``; 413/422 listing every reason."""
    try:
        contents = await asyncio.to_thread(inspect_package, upload.path, limits)
    except PackageRejected as exc:
        raise _problem_from_rejection(exc) from exc
    try:
        return load_manifest(contents.manifest)
    except ManifestError as exc:
        raise Problem(
            422,
            "manifest-invalid",
            f"plugin.yaml is invalid ({len(exc.errors)} problem(s))",
            errors=[field_error(e.loc, e.msg) for e in exc.errors],
        ) from exc


def _find_cycle(slug: str, deps: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[str]:
    """A path ``slug -> dep -> ... -> slug`` when adding ``deps`` to ``slug`` closes a cycle."""
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
    for start in deps:
        parents: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if node == slug:
                path = [node]
                cur = parents[node]
                while cur is not None:
                    path.append(cur)
                    cur = parents[cur]
                return [slug, *reversed(path)]
            for nxt in sorted(graph.get(node, ())):
                if nxt not in parents:
                    parents[nxt] = node
                    queue.append(nxt)
    return []


def latest_of(versions: Sequence[str]) -> str | None:
    parsed = [parse_version(v) for v in versions]
    releases = [v for v in parsed if not v.is_prerelease]
    pool = releases or parsed
    return str(max(pool)) if pool else None


async def _verify_signature(
    uow: UnitOfWork, publisher_id: str, upload: Upload
) -> tuple[str, uuid.UUID] | None:
    if upload.signature is None:
        if upload.key_id is not None:
            raise Problem(
                422,
                "signature-missing",
                "key_id was given without a signature",
                errors=[field_error("signature", "is required when key_id is given")],
            )
        return None
    try:
        raw_sig = signing.decode_signature(upload.signature)
    except ValueError as exc:
        raise Problem(
            422,
            "signature-invalid",
            f"The signature {exc}",
            errors=[field_error("signature", str(exc))],
        ) from exc
    keys = await repo.keys_of(uow.session, publisher_id, active_only=True)
    if upload.key_id is not None:
        keys = [k for k in keys if str(k.id) == upload.key_id]
        if not keys:
            raise Problem(
                422,
                "signing-key-unknown",
                "key_id names no active signing key of your publisher",
                errors=[field_error("key_id", "is not an active key of your publisher")],
            )
    if not keys:
        raise Problem(
            422,
            "signing-key-missing",
            "The package is signed but your publisher has no active signing key; register one "
            "with POST /api/v1/plugins/publishers/me/keys",
            errors=[field_error("signature", "no active publisher key to verify it with")],
        )
    for key in keys:
        if signing.verifies(key.public_key, raw_sig, upload.sha256):
            return base64.b64encode(raw_sig).decode(), key.id
    raise Problem(
        422,
        "signature-invalid",
        "The signature does not verify against any active key of your publisher (it must be "
        "ed25519 over the raw 32-byte sha-256 digest of the package)",
        errors=[field_error("signature", "does not verify")],
    )


@dataclass(frozen=True)
class Checked:
    """An upload that passed every check: its plugin (row locked) and its verified signature."""

    plugin: Plugin
    signed: tuple[str, uuid.UUID] | None


async def check_version(
    uow: UnitOfWork, *, publisher_id: str, plugin_ref: str, upload: Upload, manifest: Manifest
) -> Checked:
    """Every check publishing makes, writing nothing: ``POST /plugins/upload`` with
    ``dry_run=true`` answers with this alone (the CLI's ``publish --dry-run``)."""
    session = uow.session
    plugin = await repo.get_plugin(session, plugin_ref, for_update=True)
    if plugin is None or plugin.publisher_id != publisher_id:
        raise not_found("Plugin")
    if plugin.banned_at is not None:
        raise Problem(410, "plugin-banned", f"The plugin is banned: {plugin.ban_reason}")
    if manifest.id != plugin.slug:
        raise Problem(
            422,
            "manifest-id-mismatch",
            f"plugin.yaml id {manifest.id!r} differs from the registered slug {plugin.slug!r}",
            errors=[field_error("id", f"must be {plugin.slug!r}, the registered slug")],
        )
    if await repo.version_exists(session, plugin.id, manifest.version):
        raise Problem(
            409,
            "version-exists",
            f"Version {manifest.version} of {plugin.slug} is already published (versions are "
            "immutable; publish a new version)",
            errors=[field_error("version", "already exists")],
        )
    deps = manifest.dependencies.plugins
    known = await repo.known_slugs(session, list(deps))
    unknown = [s for s in deps if s not in known]
    if unknown:
        raise Problem(
            422,
            "dependency-unknown",
            f"plugin.yaml depends on unknown plugins: {', '.join(unknown)}",
            errors=[
                field_error(f"dependencies.plugins.{s}", "names no plugin in the catalog")
                for s in unknown
            ],
        )
    cycle = _find_cycle(
        plugin.slug, list(deps), await repo.dependency_edges_from(session, list(deps))
    )
    if cycle:
        raise Problem(
            422,
            "dependency-cycle",
            f"The dependencies close a cycle: {' -> '.join(cycle)}",
            errors=[field_error(f"dependencies.plugins.{cycle[1]}", "closes a dependency cycle")],
            cycle=cycle,
        )
    return Checked(plugin, await _verify_signature(uow, publisher_id, upload))


async def publish_version(
    uow: UnitOfWork,
    store: ArtifactStore,
    *,
    publisher_id: str,
    plugin_ref: str,
    upload: Upload,
    manifest: Manifest,
) -> Published:
    """Publishes ``manifest.version`` of the caller's plugin ``plugin_ref`` (see module rules)."""
    session = uow.session
    checked = await check_version(
        uow, publisher_id=publisher_id, plugin_ref=plugin_ref, upload=upload, manifest=manifest
    )
    plugin, signed = checked.plugin, checked.signed
    deps = manifest.dependencies.plugins
    location = await store.put(upload.digest, upload.path)
    await repo.add_artifact(session, upload.digest, upload.size, location)
    version_id = uuid.uuid4()
    platform_range = manifest.compatibility.platform if manifest.compatibility else None
    manifest_json = manifest.model_dump(mode="json", exclude_none=True)
    published_at = await repo.add_version(
        session,
        version_id=version_id,
        plugin_id=plugin.id,
        version=manifest.version,
        manifest=manifest_json,
        digest=upload.digest,
        size=upload.size,
        signature=signed[0] if signed else None,
        signing_key_id=signed[1] if signed else None,
        compatibility=platform_range,
        compat_literal=compat.range_to_multirange(platform_range),
        changelog=upload.changelog,
        dependencies=dict(deps),
        permissions=[p.value for p in manifest.permissions],
        hooks=[(h.name, h.handler, h.url) for h in manifest.hooks],
    )
    latest = latest_of(await repo.version_strings(session, plugin.id))
    changed: list[str] = []
    if latest == manifest.version:
        plugin.latest_version = latest
        plugin.latest_published_at = published_at
        for name, value in manifest.listing().items():
            if getattr(plugin, name) != value:
                setattr(plugin, name, value)
                changed.append(name)
        plugin.is_free = manifest.pricing.free
    plugin.updated_at = datetime.now(UTC)
    await session.flush()
    await repo.refresh_compat(session, plugin.id)
    await uow.emit(
        PluginVersionPublishedV1(
            plugin_id=plugin.id,
            slug=plugin.slug,
            publisher_id=publisher_id,
            version=manifest.version,
            manifest=manifest,
            digest=upload.digest,
            size=upload.size,
            signature=signed[0] if signed else None,
            signing_key_id=str(signed[1]) if signed else None,
            artifact_path=artifact_path(plugin.slug, manifest.version),
            published_at=published_at,
            changelog=upload.changelog,
        )
    )
    if changed:
        await uow.emit(
            PluginUpdatedV1.model_validate({**listing_event_fields(plugin), "changed": changed})
        )
    return Published(
        plugin=plugin,
        version=manifest.version,
        digest=upload.digest,
        size=upload.size,
        signature=signed[0] if signed else None,
        signing_key_id=signed[1] if signed else None,
        published_at=published_at,
        manifest=manifest,
    )
