"""Review endpoints: the public list, members' reviews and votes, developers' replies, and
platform_admin's hiding. Every write is rate limited per user and accepts Idempotency-Key."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from opscenter.reviews.list_cache import (
    CACHE_HEADER,
    LIST_CACHE_REQUESTS,
    ListCache,
    ListEntry,
    list_key,
)
from opscenter.reviews.reviews import service
from opscenter.reviews.reviews.cursor import decode_cursor, encode_cursor
from opscenter.reviews.reviews.schemas import (
    HelpfulRead,
    HideRequest,
    ModerationEntryRead,
    ModerationLog,
    ReplyWrite,
    ReviewPage,
    ReviewRead,
    ReviewSort,
    ReviewWrite,
    page_item,
    review_read,
    summary_read,
)
from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.auth import (
    CurrentPrincipal,
    OptionalPrincipal,
    Principal,
    Role,
    require_roles,
)
from opscenter.servicekit.driver import outside_transaction
from opscenter.servicekit.errors import Problem, problem_responses
from opscenter.servicekit.idempotency import IdempotencyKey
from opscenter.servicekit.runtime import RuntimeDep, ServiceRuntime
from opscenter.servicekit.uow import UnitOfWork
from opscenter.servicekit.writes import Work, idempotent_write, operation

router = APIRouter(tags=["reviews"])

PluginRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="The plugin's slug (or its UUID; a slug never has a UUID's shape)",
    ),
]
ReviewId = Annotated[uuid.UUID, Path(description="The review's id")]
Developer = Annotated[Principal, Depends(require_roles(Role.DEVELOPER))]
Admin = Annotated[Principal, Depends(require_roles(Role.PLATFORM_ADMIN))]

BASE = "/plugins/marketplace/{slug}/reviews"
#: The longest user, tenant or publisher id the tables hold.
MAX_ID = 128

_AUTH = {401: "No or invalid bearer token"}
_WRITE = {
    **_AUTH,
    404: "No such plugin or review, or not yours",
    410: "The plugin is banned: its reviews are frozen",
    422: "Invalid body; errors[] names the fields",
    429: "Too many writes by this user; Retry-After says when to retry",
}


def _actor(p: Principal) -> service.Actor:
    """The caller as the service sees it; identifiers longer than the tables hold are refused
    (401) before anything is written."""
    for claim, value in (("sub", p.subject), ("tenant_id", p.tenant_id)):
        if value is not None and len(value) > MAX_ID:
            raise Problem(
                401,
                "invalid-token",
                f"The token's {claim} must be at most {MAX_ID} characters",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
    return service.Actor(
        subject=p.subject,
        tenant_id=p.tenant_id,
        is_member=p.has(Role.MEMBER),
        is_admin=p.has(Role.PLATFORM_ADMIN),
        publisher_id=p.publisher_id,
    )


def _read(written: service.Written, *, admin: bool = False) -> ReviewRead:
    return review_read(
        written.review, written.slug, still_installed=written.still_installed, admin=admin
    )


async def _rate_limited_write(
    request: Request,
    runtime: ServiceRuntime,
    principal: Principal,
    key: str | None,
    body: object,
    work: Work,
) -> Response:
    settings: ReviewsSettings = request.app.state.settings
    _actor(principal)  # refuses a token whose identifiers the ledger cannot hold
    async with runtime.uow() as uow:
        await service.admit_write(
            uow,
            principal.subject,
            limit=settings.write_limit,
            window_s=settings.write_window_seconds,
        )
    return await idempotent_write(runtime, principal, operation(request), key, body, work)


@router.get(
    BASE,
    response_model=ReviewPage,
    responses=problem_responses(
        {
            401: "An invalid bearer token (the list needs none)",
            404: "No such plugin",
            422: "Invalid query or cursor",
        }
    ),
    summary="A plugin's reviews (keyset pages) with its rating summary",
    description=(
        "Hidden reviews are left out for everyone but platform_admin. Answers are cached per "
        "process and emptied by every change as it commits, so a write shows in the next read."
    ),
)
async def list_reviews(
    slug: PluginRef,
    request: Request,
    runtime: RuntimeDep,
    principal: OptionalPrincipal,
    sort: ReviewSort = ReviewSort.NEWEST,
    rating: Annotated[int | None, Query(ge=1, le=5, description="Only this rating")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    admin = principal is not None and principal.has(Role.PLATFORM_ADMIN)
    after = decode_cursor(cursor, sort) if cursor else None

    async def compute() -> ListEntry:
        body = await page_json(
            runtime, slug, sort=sort, rating=rating, after=after, limit=limit, admin=admin
        )
        return ListEntry(body)

    # Fresh hits of callers without a token were answered by list_cache.list_fast_path; here
    # concurrent misses share one computation.
    cache: ListCache = request.app.state.list_cache
    key = list_key(request.scope["path"], request.scope["query_string"], admin=admin)
    entry, outcome = await cache.entries.lookup(key, compute)
    LIST_CACHE_REQUESTS.labels(outcome).inc()
    return Response(entry.body, media_type="application/json", headers={CACHE_HEADER: outcome})


async def page_json(
    runtime: ServiceRuntime,
    ref: str,
    *,
    sort: ReviewSort,
    rating: int | None,
    after: list[Any] | None,
    limit: int,
    admin: bool,
) -> bytes:
    """The list's answer, built as JSON directly (the hot read; ``ReviewPage`` documents its
    shape)."""
    async with outside_transaction(runtime.engine) as conn:
        found = await service.page(
            conn,
            ref,
            sort=sort,
            rating=rating,
            after=after,
            limit=limit,
            include_hidden=admin,
        )
    plugin_slug = found.plugin["slug"]
    body = {
        "items": [page_item(row, plugin_slug, admin=admin) for row in found.rows],
        "summary": summary_read(service.summary_of(found.plugin)),
        "next_cursor": encode_cursor(found.rows[-1], sort) if found.more else None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


@router.post(
    BASE,
    status_code=201,
    response_model=ReviewRead,
    responses=problem_responses(
        {
            **_WRITE,
            403: "The caller's tenant never installed the plugin (detail says why)",
            409: "The caller already reviewed this plugin (existing_review_id names it)",
        }
    ),
    summary="Review a plugin your tenant has (or had) installed",
)
async def create_review(
    slug: PluginRef,
    body: ReviewWrite,
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, ReviewRead]:
        return 201, _read(await service.create(uow, slug, _actor(principal), body))

    return await _rate_limited_write(
        request, runtime, principal, idempotency_key, body.model_dump(), work
    )


@router.put(
    BASE + "/{review_id}",
    response_model=ReviewRead,
    responses=problem_responses(_WRITE),
    summary="Edit your review (rating, title and body)",
)
async def edit_review(
    slug: PluginRef,
    review_id: ReviewId,
    body: ReviewWrite,
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, ReviewRead]:
        written = await service.edit(uow, slug, review_id, _actor(principal), body)
        return 200, _read(written)

    return await _rate_limited_write(
        request, runtime, principal, idempotency_key, body.model_dump(), work
    )


@router.delete(
    BASE + "/{review_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(_WRITE),
    summary="Delete your review",
)
async def delete_review(
    slug: PluginRef,
    review_id: ReviewId,
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, None]:
        await service.delete(uow, slug, review_id, _actor(principal))
        return 204, None

    return await _rate_limited_write(request, runtime, principal, idempotency_key, None, work)


@router.post(
    BASE + "/{review_id}/helpful",
    response_model=HelpfulRead,
    responses=problem_responses({**_WRITE, 403: "Not a tenant member, or the caller's own review"}),
    summary="Vote a review helpful (once; a second vote changes nothing)",
)
async def vote_helpful(
    slug: PluginRef,
    review_id: ReviewId,
    request: Request,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, HelpfulRead]:
        count = await service.vote_helpful(uow, slug, review_id, _actor(principal))
        return 200, HelpfulRead(review_id=review_id, helpful_count=count, voted=True)

    return await _rate_limited_write(request, runtime, principal, idempotency_key, None, work)


_REPLY = {**_WRITE, 403: "Only developers reply"}


async def _reply(
    slug: str,
    review_id: uuid.UUID,
    body: ReplyWrite,
    request: Request,
    runtime: ServiceRuntime,
    principal: Principal,
    idempotency_key: str | None,
    *,
    first: bool,
) -> Response:
    """The first reply (201) or an edit of it (200)."""

    async def work(uow: UnitOfWork) -> tuple[int, ReviewRead]:
        actor = _actor(principal)
        written = await service.reply(uow, slug, review_id, actor, body.body, first=first)
        return (201 if first else 200), _read(written)

    return await _rate_limited_write(
        request, runtime, principal, idempotency_key, body.model_dump(), work
    )


@router.post(
    BASE + "/{review_id}/reply",
    status_code=201,
    response_model=ReviewRead,
    responses=problem_responses({**_REPLY, 409: "The review already has a reply (use PUT)"}),
    summary="The plugin's developer replies to a review (once)",
)
async def reply(
    slug: PluginRef,
    review_id: ReviewId,
    body: ReplyWrite,
    request: Request,
    runtime: RuntimeDep,
    principal: Developer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await _reply(
        slug, review_id, body, request, runtime, principal, idempotency_key, first=True
    )


@router.put(
    BASE + "/{review_id}/reply",
    response_model=ReviewRead,
    responses=problem_responses(_REPLY),
    summary="The plugin's developer edits their reply",
)
async def edit_reply(
    slug: PluginRef,
    review_id: ReviewId,
    body: ReplyWrite,
    request: Request,
    runtime: RuntimeDep,
    principal: Developer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await _reply(
        slug, review_id, body, request, runtime, principal, idempotency_key, first=False
    )


_ADMIN = {**_AUTH, 403: "Only platform_admin", 404: "No such review"}


@router.put(
    "/admin/reviews/{review_id}/hide",
    response_model=ReviewRead,
    responses=problem_responses({**_ADMIN, 422: "Invalid body; errors[] names the fields"}),
    summary="Hide or unhide a review, with a reason kept in the moderation log",
)
async def hide(
    review_id: ReviewId,
    body: HideRequest,
    request: Request,
    runtime: RuntimeDep,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, ReviewRead]:
        written = await service.hide(uow, review_id, _actor(principal), body)
        return 200, _read(written, admin=True)

    return await idempotent_write(
        runtime, principal, operation(request), idempotency_key, body.model_dump(), work
    )


@router.get(
    "/admin/reviews/{review_id}/moderation",
    response_model=ModerationLog,
    responses=problem_responses(_ADMIN),
    summary="A review's moderation log, newest first",
)
async def moderation_log(
    review_id: ReviewId, runtime: RuntimeDep, principal: Admin
) -> ModerationLog:
    async with runtime.uow() as uow:
        entries = await service.moderation_log(uow, review_id)
        # Read while the session is open: closing it expires the rows.
        return ModerationLog(
            items=[
                ModerationEntryRead(
                    id=e.id,
                    review_id=e.review_id,
                    action=e.action,
                    actor_id=e.actor_id,
                    reason=e.reason,
                    created_at=e.created_at,
                )
                for e in entries
            ]
        )
