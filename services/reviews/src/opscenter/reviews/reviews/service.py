"""Reviews: the rules of who may write what, and the summary kept right under concurrency.

Every change of a plugin's reviews (create, edit, delete, hide, unhide) first locks the plugin's
projection row, then recomputes the plugin's rating summary from the rows and emits the review
event and the whole new summary through the outbox, all in one transaction. Changes of one
plugin therefore commit one after another, each summary counts every change committed before it,
and the last summary published equals the rows. Votes and replies do not move the summary and
lock only their review.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from opscenter.contracts.reviews import (
    RatingSummaryChangedV1,
    ReviewCreatedV1,
    ReviewDeletedV1,
    ReviewRestoredV1,
    ReviewUpdatedV1,
)
from opscenter.reviews.models import ModerationEntry, PluginProjection, Review
from opscenter.reviews.reviews import repository as repo
from opscenter.reviews.reviews.schemas import HideRequest, ReviewSort, ReviewWrite
from opscenter.reviews.summary import Summary
from opscenter.servicekit.errors import Problem, not_found
from opscenter.servicekit.uow import UnitOfWork


@dataclass(frozen=True)
class Actor:
    subject: str
    tenant_id: str | None
    is_member: bool
    is_admin: bool
    publisher_id: str | None


@dataclass(frozen=True)
class Page:
    plugin: asyncpg.Record
    rows: list[asyncpg.Record]
    more: bool


@dataclass(frozen=True)
class Written:
    """A review as a write left it, with what the answer shows beside it."""

    review: Review
    slug: str
    still_installed: bool


# --- reads ----------------------------------------------------------------------------------


async def page(
    conn: asyncpg.Connection,
    ref: str,
    *,
    sort: ReviewSort,
    rating: int | None,
    after: list[Any] | None,
    limit: int,
    include_hidden: bool,
) -> Page:
    """One statement, so the page and the summary come from one snapshot."""
    rows = await repo.page_rows(
        conn,
        ref,
        sort,
        rating=rating,
        include_hidden=include_hidden,
        after=after,
        limit=limit + 1,
    )
    if not rows:
        raise not_found("Plugin")
    reviews = [row for row in rows if row["id"] is not None]
    return Page(plugin=rows[0], rows=reviews[:limit], more=len(reviews) > limit)


def summary_of(plugin: Any) -> Summary:
    """The summary held on a plugin row (a record or a projection object)."""
    get = plugin.__getitem__ if isinstance(plugin, asyncpg.Record) else plugin.__getattribute__
    return Summary.of({star: get(f"rating_{star}") for star in (1, 2, 3, 4, 5)})


# --- the rate limit -------------------------------------------------------------------------


async def admit_write(uow: UnitOfWork, user_id: str, *, limit: int, window_s: int) -> None:
    """Counts a write of the user (committed on its own, so refused writes count too); 429 with
    ``Retry-After`` (seconds until the window ends) once the window holds ``limit`` writes."""
    now = datetime.now(UTC)
    epoch = now.timestamp()
    start = datetime.fromtimestamp(epoch - epoch % window_s, UTC)
    if await repo.take_write(uow.session, user_id, window_start=start, limit=limit):
        await uow.commit()
        return
    retry = max(1, math.ceil((start + timedelta(seconds=window_s) - now).total_seconds()))
    raise Problem(
        429,
        "rate-limited",
        f"At most {limit} review writes per {window_s} s per user; retry in {retry} s",
        headers={"Retry-After": str(retry)},
        retry_after=retry,
    )


# --- review changes -------------------------------------------------------------------------


def _refuse_if_banned(plugin: PluginProjection) -> None:
    """A banned plugin's reviews are frozen: every write answers 410 with the ban's reason."""
    if plugin.banned_at is not None:
        raise Problem(
            410,
            "plugin-banned",
            f"The plugin was banned ({plugin.ban_reason}); its reviews are frozen",
            reason=plugin.ban_reason,
        )


async def _locked_plugin(uow: UnitOfWork, ref: str) -> PluginProjection:
    """The plugin, locked; 404 when unknown, 410 with the reason when banned."""
    plugin = await repo.plugin_for_update(uow.session, ref)
    if plugin is None:
        raise not_found("Plugin")
    _refuse_if_banned(plugin)
    return plugin


async def _publish_summary(uow: UnitOfWork, plugin: PluginProjection) -> None:
    summary = Summary.of(await repo.recount(uow.session, plugin))
    await uow.emit(
        RatingSummaryChangedV1(
            plugin_id=plugin.plugin_id,
            slug=plugin.slug,
            average=summary.average,
            bayesian_average=summary.bayesian_average,
            count=summary.count,
            histogram=dict(summary.histogram),
        )
    )


def _event_fields(plugin: PluginProjection, review: Review) -> dict[str, Any]:
    return {
        "review_id": review.id,
        "plugin_id": plugin.plugin_id,
        "slug": plugin.slug,
        "tenant_id": review.tenant_id,
        "user_id": review.user_id,
        "rating": review.rating,
    }


async def create(uow: UnitOfWork, ref: str, actor: Actor, body: ReviewWrite) -> Written:
    """Only a member of a tenant that has or had the plugin installed; one review per user."""
    if not actor.is_member or actor.tenant_id is None:
        raise Problem(
            403,
            "not-a-tenant-member",
            "Only a member of a tenant that installed the plugin may review it; "
            "this token has no tenant membership",
        )
    plugin = await _locked_plugin(uow, ref)
    install = await repo.tenant_install(uow.session, actor.tenant_id, plugin.plugin_id)
    if install is None:
        raise Problem(
            403,
            "not-installed",
            f"Your tenant has never installed {plugin.slug}; only tenants that ran a plugin "
            "may review it",
        )
    existing = await repo.review_of_user(uow.session, plugin.plugin_id, actor.subject)
    if existing is not None:
        raise Problem(
            409,
            "review-exists",
            f"You already reviewed {plugin.slug} (review {existing.id}); edit that one instead",
            existing_review_id=str(existing.id),
        )
    now = datetime.now(UTC)
    review = Review(
        id=uuid.uuid4(),
        plugin_id=plugin.plugin_id,
        tenant_id=actor.tenant_id,
        user_id=actor.subject,
        rating=body.rating,
        title=body.title,
        body=body.body,
        version=install.version,
        helpful_count=0,
        hidden=False,
        created_at=now,
        updated_at=now,
    )
    await repo.add(uow.session, review)
    await uow.emit(
        ReviewCreatedV1(**_event_fields(plugin, review), title=review.title),
        tenant_id=review.tenant_id,
    )
    await _publish_summary(uow, plugin)
    return Written(review, plugin.slug, install.installed)


async def _own_review(
    uow: UnitOfWork, plugin: PluginProjection, review_id: uuid.UUID, actor: Actor
) -> Review:
    """The actor's own review; another user's (or a missing one) answers 404."""
    review = await repo.review(uow.session, plugin.plugin_id, review_id, for_update=True)
    if review is None or review.user_id != actor.subject:
        raise not_found("Review")
    return review


async def edit(
    uow: UnitOfWork, ref: str, review_id: uuid.UUID, actor: Actor, body: ReviewWrite
) -> Written:
    plugin = await _locked_plugin(uow, ref)
    review = await _own_review(uow, plugin, review_id, actor)
    previous = review.rating
    review.rating, review.title, review.body = body.rating, body.title, body.body
    review.updated_at = datetime.now(UTC)
    await uow.session.flush()
    await uow.emit(
        ReviewUpdatedV1(
            **_event_fields(plugin, review), previous_rating=previous, title=review.title
        ),
        tenant_id=review.tenant_id,
    )
    await _publish_summary(uow, plugin)
    installed = await repo.still_installed(uow.session, review.tenant_id, plugin.plugin_id)
    return Written(review, plugin.slug, installed)


async def delete(uow: UnitOfWork, ref: str, review_id: uuid.UUID, actor: Actor) -> None:
    plugin = await _locked_plugin(uow, ref)
    review = await _own_review(uow, plugin, review_id, actor)
    await repo.remove(uow.session, review)
    await uow.emit(ReviewDeletedV1(**_event_fields(plugin, review)), tenant_id=review.tenant_id)
    await _publish_summary(uow, plugin)


async def _visible_review(
    uow: UnitOfWork, ref: str, review_id: uuid.UUID, actor: Actor
) -> tuple[PluginProjection, Review]:
    """A review the actor can see, locked, on a plugin that is not banned."""
    plugin = await repo.plugin(uow.session, ref)
    if plugin is None:
        raise not_found("Plugin")
    review = await repo.review(uow.session, plugin.plugin_id, review_id, for_update=True)
    if review is None or (review.hidden and not actor.is_admin):
        raise not_found("Review")
    _refuse_if_banned(plugin)
    return plugin, review


async def vote_helpful(uow: UnitOfWork, ref: str, review_id: uuid.UUID, actor: Actor) -> int:
    """Counts the member's vote once (a second changes nothing); authors cannot vote on their
    own review. Returns the helpful count."""
    if not actor.is_member:
        raise Problem(403, "members-only", "Only tenant members may vote on reviews")
    _, review = await _visible_review(uow, ref, review_id, actor)
    if review.user_id == actor.subject:
        raise Problem(403, "own-review", "You cannot vote on your own review")
    counted = await repo.add_vote(uow.session, review.id, actor.subject)
    return review.helpful_count if counted is None else counted


async def reply(
    uow: UnitOfWork, ref: str, review_id: uuid.UUID, actor: Actor, text: str, *, first: bool
) -> Written:
    """The plugin's developer replies once per review (``first``), then edits that reply.
    Another publisher's plugin answers 404, like a missing one."""
    plugin, review = await _visible_review(uow, ref, review_id, actor)
    if actor.publisher_id is None or plugin.publisher_id != actor.publisher_id:
        raise not_found("Review")
    now = datetime.now(UTC)
    if first:
        if review.reply_body is not None:
            raise Problem(
                409,
                "reply-exists",
                f"Review {review.id} already has your reply; edit it with PUT",
                review_id=str(review.id),
            )
        review.replied_at = now
    elif review.reply_body is None:
        raise not_found("Reply")
    review.reply_body, review.reply_author_id, review.reply_updated_at = text, actor.subject, now
    await uow.session.flush()
    installed = await repo.still_installed(uow.session, review.tenant_id, plugin.plugin_id)
    return Written(review, plugin.slug, installed)


async def hide(uow: UnitOfWork, review_id: uuid.UUID, actor: Actor, body: HideRequest) -> Written:
    """platform_admin hides (the review leaves lists and the summary) or unhides, with a reason
    kept in the moderation log. Repeating the current state logs nothing and emits nothing."""
    found = await repo.review_by_id(uow.session, review_id)
    if found is None:
        raise not_found("Review")
    plugin = await repo.plugin_for_update(uow.session, str(found.plugin_id))
    review = await repo.review(uow.session, found.plugin_id, review_id, for_update=True)
    if plugin is None or review is None:
        raise not_found("Review")
    if review.hidden != body.hidden:
        review.hidden = body.hidden
        review.hidden_reason = body.reason if body.hidden else None
        await repo.log_moderation(
            uow.session,
            ModerationEntry(
                id=uuid.uuid4(),
                review_id=review.id,
                plugin_id=plugin.plugin_id,
                action="hide" if body.hidden else "unhide",
                actor_id=actor.subject,
                reason=body.reason,
                created_at=datetime.now(UTC),
            ),
        )
        fields = _event_fields(plugin, review)
        event: ReviewDeletedV1 | ReviewRestoredV1 = (
            ReviewDeletedV1(**fields, by="moderator")
            if body.hidden
            else ReviewRestoredV1(**fields, title=review.title)
        )
        await uow.emit(event, tenant_id=review.tenant_id)
        await _publish_summary(uow, plugin)
    installed = await repo.still_installed(uow.session, review.tenant_id, plugin.plugin_id)
    return Written(review, plugin.slug, installed)


async def moderation_log(uow: UnitOfWork, review_id: uuid.UUID) -> list[ModerationEntry]:
    entries = list(await repo.moderation_entries(uow.session, review_id))
    if not entries and await repo.review_by_id(uow.session, review_id) is None:
        raise not_found("Review")
    return entries
