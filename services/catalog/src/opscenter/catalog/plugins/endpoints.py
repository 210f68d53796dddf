"""Publishing endpoints: register a plugin, manage signing keys, upload versions."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from opscenter.catalog.deps import SettingsDep, StoreDep
from opscenter.catalog.plugins import service
from opscenter.catalog.plugins.schemas import (
    PluginCreate,
    PluginPage,
    PluginRead,
    PublisherKeyCreate,
    PublisherKeyList,
    PublisherKeyRead,
    UploadChecked,
    VersionPublished,
)
from opscenter.catalog.plugins.upload_form import read_upload
from opscenter.contracts.catalog import artifact_path
from opscenter.contracts.packages import PackageLimits
from opscenter.servicekit.auth import Principal, Role, require_roles
from opscenter.servicekit.cursors import cursor_text
from opscenter.servicekit.errors import Problem, field_error, problem_responses
from opscenter.servicekit.idempotency import IdempotencyKey
from opscenter.servicekit.pagination import decode_cursor, encode_cursor
from opscenter.servicekit.runtime import RuntimeDep
from opscenter.servicekit.uow import UnitOfWork
from opscenter.servicekit.writes import idempotent_write, operation

router = APIRouter(prefix="/plugins", tags=["publishing"])

Developer = Annotated[Principal, Depends(require_roles(Role.DEVELOPER))]

_PROBLEMS = problem_responses(
    {
        401: "No or invalid bearer token",
        403: "Not a developer, or the token has no publisher_id",
        404: "No such plugin of your publisher",
        409: "Conflict (slug taken, version exists, key registered)",
        413: "The package is too large (compressed or unpacked)",
        415: "Not multipart/form-data",
        422: "Invalid input; every reason is listed in errors[]",
    }
)


@router.post(
    "/register",
    status_code=201,
    response_model=PluginRead,
    responses=_PROBLEMS,
    summary="Register a plugin (a listing owned by your publisher)",
)
async def register_plugin(
    body: PluginCreate,
    request: Request,
    runtime: RuntimeDep,
    principal: Developer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    publisher_id = principal.require_publisher()

    async def work(uow: UnitOfWork) -> tuple[int, PluginRead]:
        return 201, PluginRead.of(await service.register_plugin(uow, publisher_id, body))

    return await idempotent_write(
        runtime,
        principal,
        operation(request),
        idempotency_key,
        body.model_dump(mode="json"),
        work,
    )


_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["package"],
                "properties": {
                    "package": {
                        "type": "string",
                        "format": "binary",
                        "description": "The package: .tar.gz or .zip with plugin.yaml at its root",
                    },
                    "plugin": {
                        "type": "string",
                        "description": "Id or slug of your registered plugin "
                        "(default: plugin.yaml's id)",
                    },
                    "signature": {
                        "type": "string",
                        "description": "base64 ed25519 signature over the RAW 32-byte sha-256 "
                        "digest of the package bytes (not its hex form)",
                    },
                    "key_id": {
                        "type": "string",
                        "format": "uuid",
                        "description": "The signing key to verify with (default: any active key)",
                    },
                    "changelog": {"type": "string"},
                    "dry_run": {
                        "type": "string",
                        "enum": ["true", "false"],
                        "description": "true: run every check (archive, manifest, slug, version, "
                        "dependencies, signature) and answer 200 without publishing",
                    },
                },
            }
        }
    },
}


@router.post(
    "/upload",
    status_code=201,
    response_model=VersionPublished,
    responses={
        200: {"model": UploadChecked, "description": "dry_run=true: every check passed"},
        **_PROBLEMS,
    },
    summary="Publish a version from a package",
    description=(
        "Streams the package (refused with 413 past the size limit), checks the archive "
        "(no absolute paths, '..', links, devices; file count, unpacked size and compression "
        "ratio limits), validates plugin.yaml (every problem listed), its id against the "
        "registered slug, its plugin dependencies (known, no cycle) and the optional ed25519 "
        "signature, which must be over the RAW 32-byte sha-256 digest of the package bytes. "
        "The version is immutable once published."
    ),
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def upload_package(
    request: Request,
    runtime: RuntimeDep,
    settings: SettingsDep,
    store: StoreDep,
    principal: Developer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    publisher_id = principal.require_publisher()
    tmp_dir = Path(settings.artifact_root) / ".uploads"
    upload = await read_upload(
        request, max_package_bytes=settings.max_package_bytes, tmp_dir=tmp_dir
    )
    try:
        fields = upload.fields
        pkg = service.Upload(
            path=upload.path,
            size=upload.size,
            sha256=upload.sha256,
            signature=fields.get("signature"),
            key_id=fields.get("key_id"),
            changelog=fields.get("changelog"),
        )
        limits = PackageLimits(
            max_files=settings.max_files,
            max_unpacked_bytes=settings.max_unpacked_bytes,
            max_ratio=settings.max_compression_ratio,
        )
        manifest = await service.read_manifest(pkg, limits)
        plugin_ref = fields.get("plugin") or manifest.id
        if fields.get("dry_run") not in (None, "true", "false"):
            raise Problem(
                422,
                "validation-error",
                "dry_run must be 'true' or 'false'",
                errors=[field_error("dry_run", "must be 'true' or 'false'")],
            )
        if fields.get("dry_run") == "true":
            async with runtime.uow() as uow:  # rolled back: a dry run writes nothing
                checked = await service.check_version(
                    uow,
                    publisher_id=publisher_id,
                    plugin_ref=plugin_ref,
                    upload=pkg,
                    manifest=manifest,
                )
            return JSONResponse(
                UploadChecked(
                    dry_run=True,
                    plugin_id=checked.plugin.id,
                    slug=checked.plugin.slug,
                    version=manifest.version,
                    digest=upload.digest,
                    size=upload.size,
                    signed=checked.signed is not None,
                    signing_key_id=checked.signed[1] if checked.signed else None,
                ).model_dump(mode="json")
            )

        async def work(uow: UnitOfWork) -> tuple[int, VersionPublished]:
            p = await service.publish_version(
                uow,
                store,
                publisher_id=publisher_id,
                plugin_ref=plugin_ref,
                upload=pkg,
                manifest=manifest,
            )
            return 201, VersionPublished(
                plugin_id=p.plugin.id,
                slug=p.plugin.slug,
                version=p.version,
                digest=p.digest,
                size=p.size,
                signed=p.signature is not None,
                signing_key_id=p.signing_key_id,
                artifact_path=artifact_path(p.plugin.slug, p.version),
                published_at=p.published_at,
                manifest=p.manifest.model_dump(mode="json", exclude_none=True),
            )

        return await idempotent_write(
            runtime,
            principal,
            operation(request),
            idempotency_key,
            [upload.digest, sorted(fields.items())],
            work,
        )
    finally:
        upload.discard()


@router.post(
    "/publishers/me/keys",
    status_code=201,
    response_model=PublisherKeyRead,
    responses=_PROBLEMS,
    summary="Register an ed25519 public key for signing packages",
)
async def register_key(
    body: PublisherKeyCreate,
    request: Request,
    runtime: RuntimeDep,
    principal: Developer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    publisher_id = principal.require_publisher()

    async def work(uow: UnitOfWork) -> tuple[int, PublisherKeyRead]:
        return 201, PublisherKeyRead.of(
            await service.register_key(uow, publisher_id, body.public_key)
        )

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, body.model_dump(), work
    )


@router.get(
    "/publishers/me/keys",
    response_model=PublisherKeyList,
    responses=_PROBLEMS,
    summary="Your publisher's signing keys (revoked ones included)",
)
async def list_keys(runtime: RuntimeDep, principal: Developer) -> PublisherKeyList:
    publisher_id = principal.require_publisher()
    async with runtime.uow() as uow:
        keys = await service.list_keys(uow, publisher_id)
        return PublisherKeyList(items=[PublisherKeyRead.of(k) for k in keys])


@router.delete(
    "/publishers/me/keys/{key_id}",
    response_model=PublisherKeyRead,
    responses=_PROBLEMS,
    summary="Revoke a signing key (packages signed with it no longer verify for new installs)",
)
async def revoke_key(
    key_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    principal: Developer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    publisher_id = principal.require_publisher()

    async def work(uow: UnitOfWork) -> tuple[int, PublisherKeyRead]:
        return 200, PublisherKeyRead.of(await service.revoke_key(uow, publisher_id, key_id))

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, str(key_id), work
    )


@router.get(
    "/publishers/me/plugins",
    response_model=PluginPage,
    responses=_PROBLEMS,
    summary="Your publisher's plugins, banned ones included",
)
async def my_plugins(
    runtime: RuntimeDep,
    principal: Developer,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PluginPage:
    publisher_id = principal.require_publisher()
    after = cursor_text(decode_cursor(cursor, 1)[0], 64) if cursor else None
    async with runtime.uow() as uow:
        plugins = await service.my_plugins(
            uow, publisher_id, after=str(after) if after else None, limit=limit + 1
        )
        items = [PluginRead.of(p) for p in plugins[:limit]]
    next_cursor = encode_cursor([items[-1].slug]) if len(plugins) > limit else None
    return PluginPage(items=items, next_cursor=next_cursor)
