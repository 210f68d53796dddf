"""Moderation: verify, feature, ban, yank, deprecate. Each action locks the plugin row, changes
it, logs who did what and why, then emits its event (so a plugin's events stay in order).
Repeating an action that is already in effect changes nothing and emits nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from opscenter.catalog.models import ModerationEntry, Plugin
from opscenter.catalog.moderation import repository as repo
from opscenter.catalog.moderation.schemas import (
    DeprecateRequest,
    FeatureRequest,
    VerifyRequest,
    YankedVersion,
)
from opscenter.catalog.plugins import repository as plugins_repo
from opscenter.catalog.plugins.service import latest_of
from opscenter.contracts import (
    PluginBannedV1,
    PluginDeprecatedV1,
    PluginFeaturedV1,
    PluginVerifiedV1,
    PluginVersionYankedV1,
)
from opscenter.servicekit.errors import Problem, field_error, not_found
from opscenter.servicekit.uow import UnitOfWork


@dataclass(frozen=True)
class Actor:
    subject: str
    is_admin: bool
    publisher_id: str | None


async def _plugin(uow: UnitOfWork, ref: str, actor: Actor, *, owner_may: bool) -> Plugin:
    """The plugin, row-locked; 404 unless the actor is an admin or (when allowed) its owner."""
    plugin = await plugins_repo.get_plugin(uow.session, ref, for_update=True)
    if plugin is None:
        raise not_found("Plugin")
    if actor.is_admin:
        return plugin
    if owner_may and actor.publisher_id is not None and plugin.publisher_id == actor.publisher_id:
        return plugin
    raise not_found("Plugin")


def _touch(plugin: Plugin) -> None:
    plugin.updated_at = datetime.now(UTC)


async def verify(uow: UnitOfWork, ref: str, actor: Actor, body: VerifyRequest) -> Plugin:
    plugin = await _plugin(uow, ref, actor, owner_may=False)
    if plugin.verified == body.verified:
        return plugin
    plugin.verified = body.verified
    _touch(plugin)
    await repo.log(
        uow.session,
        plugin_id=plugin.id,
        action="verify" if body.verified else "unverify",
        actor_id=actor.subject,
        reason=body.reason,
    )
    await uow.emit(
        PluginVerifiedV1(
            plugin_id=plugin.id, slug=plugin.slug, verified=body.verified, reason=body.reason
        )
    )
    return plugin


async def feature(uow: UnitOfWork, ref: str, actor: Actor, body: FeatureRequest) -> Plugin:
    if body.featured and body.rank is None:
        raise Problem(
            422,
            "validation-error",
            "A featured plugin needs a rank",
            errors=[field_error("body.rank", "is required when featured is true")],
        )
    now = datetime.now(UTC)
    if body.featured and body.until is not None and body.until <= now:
        raise Problem(
            422,
            "validation-error",
            "until must be in the future",
            errors=[field_error("body.until", "must be in the future")],
        )
    plugin = await _plugin(uow, ref, actor, owner_may=False)
    if body.featured:
        if plugin.banned_at is not None:
            raise Problem(409, "plugin-banned", "A banned plugin cannot be featured")
        plugin.featured_rank, plugin.featured_until = body.rank, body.until
    else:
        plugin.featured_rank, plugin.featured_until = None, None
    _touch(plugin)
    await repo.log(
        uow.session,
        plugin_id=plugin.id,
        action="feature" if body.featured else "unfeature",
        actor_id=actor.subject,
        reason=body.reason,
        details={"rank": body.rank, "until": body.until.isoformat() if body.until else None},
    )
    await uow.emit(
        PluginFeaturedV1(
            plugin_id=plugin.id,
            slug=plugin.slug,
            featured=body.featured,
            rank=body.rank if body.featured else None,
            until=body.until if body.featured else None,
        )
    )
    return plugin


async def ban(uow: UnitOfWork, ref: str, actor: Actor, reason: str) -> Plugin:
    """The plugin leaves listings and search; its detail answers 410; the event makes the
    installer disable every installation."""
    plugin = await _plugin(uow, ref, actor, owner_may=False)
    if plugin.banned_at is not None:
        return plugin
    plugin.banned_at = datetime.now(UTC)
    plugin.ban_reason = reason
    plugin.featured_rank, plugin.featured_until = None, None
    _touch(plugin)
    await repo.log(
        uow.session, plugin_id=plugin.id, action="ban", actor_id=actor.subject, reason=reason
    )
    await uow.emit(PluginBannedV1(plugin_id=plugin.id, slug=plugin.slug, reason=reason))
    return plugin


async def yank(uow: UnitOfWork, ref: str, number: str, actor: Actor, reason: str) -> YankedVersion:
    """No new installs of the version; exact pins still resolve and it still downloads."""
    plugin = await _plugin(uow, ref, actor, owner_may=True)
    v = await repo.version_for_update(uow.session, plugin.id, number)
    if v is None:
        raise not_found("Version")
    if v.yanked_at is None:
        v.yanked_at = datetime.now(UTC)
        v.yank_reason = reason
        await uow.session.flush()
        remaining = await plugins_repo.version_strings(uow.session, plugin.id)
        latest = latest_of(remaining)
        if latest != plugin.latest_version:
            plugin.latest_version = latest
        _touch(plugin)
        await uow.session.flush()
        await plugins_repo.refresh_compat(uow.session, plugin.id)
        await repo.log(
            uow.session,
            plugin_id=plugin.id,
            action="yank",
            actor_id=actor.subject,
            reason=reason,
            version=v.version,
        )
        await uow.emit(
            PluginVersionYankedV1(
                plugin_id=plugin.id, slug=plugin.slug, version=v.version, reason=reason
            )
        )
    return YankedVersion(
        slug=plugin.slug,
        version=v.version,
        yanked=True,
        yank_reason=v.yank_reason,
        yanked_at=v.yanked_at,
        latest_version=plugin.latest_version,
    )


async def deprecate(uow: UnitOfWork, ref: str, actor: Actor, body: DeprecateRequest) -> Plugin:
    plugin = await _plugin(uow, ref, actor, owner_may=True)
    if body.replacement is not None:
        if body.replacement == plugin.slug:
            raise Problem(
                422,
                "validation-error",
                "A plugin cannot replace itself",
                errors=[field_error("body.replacement", "is the plugin itself")],
            )
        if not await plugins_repo.known_slugs(uow.session, [body.replacement]):
            raise Problem(
                422,
                "validation-error",
                f"The replacement {body.replacement!r} is not a plugin in the catalog",
                errors=[field_error("body.replacement", "names no listed plugin")],
            )
    plugin.deprecated = True
    plugin.deprecation_reason = body.reason
    plugin.replacement_slug = body.replacement
    _touch(plugin)
    await repo.log(
        uow.session,
        plugin_id=plugin.id,
        action="deprecate",
        actor_id=actor.subject,
        reason=body.reason,
        details={"replacement": body.replacement},
    )
    await uow.emit(
        PluginDeprecatedV1(
            plugin_id=plugin.id,
            slug=plugin.slug,
            replacement_slug=body.replacement,
            reason=body.reason,
        )
    )
    return plugin


async def moderation_log(
    uow: UnitOfWork,
    ref: str,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[ModerationEntry]:
    plugin = await plugins_repo.get_plugin(uow.session, ref)
    if plugin is None:
        raise not_found("Plugin")
    return await repo.entries(uow.session, plugin.id, after=after, limit=limit)
