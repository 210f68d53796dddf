"""Reads and writes of the subscription, config and plugin projections and the webhook
secrets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.hooks.deliveries.repository import cancelled
from opscenter.hooks.models import (
    Delivery,
    InstallationConfig,
    PluginProjection,
    PluginVersion,
    PublisherKey,
    Schedule,
    Subscription,
    WebhookSecret,
)


async def subscription_for_update(
    session: AsyncSession, installation_id: uuid.UUID
) -> Subscription | None:
    stmt = (
        select(Subscription)
        .where(Subscription.installation_id == installation_id)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def subscription(session: AsyncSession, installation_id: uuid.UUID) -> Subscription | None:
    return await session.get(Subscription, installation_id)


async def subscriptions_of_plugin(
    session: AsyncSession, plugin_id: uuid.UUID, tenant_id: str | None = None
) -> Sequence[Subscription]:
    stmt = select(Subscription).where(Subscription.plugin_id == plugin_id)
    if tenant_id is not None:
        stmt = stmt.where(Subscription.tenant_id == tenant_id)
    return (await session.execute(stmt.order_by(Subscription.installation_id))).scalars().all()


async def active_subscriptions(session: AsyncSession, tenant_id: str) -> Sequence[Subscription]:
    """The tenant's enabled subscriptions whose plugin is not banned."""
    stmt = (
        select(Subscription)
        .outerjoin(PluginProjection, PluginProjection.plugin_id == Subscription.plugin_id)
        .where(
            Subscription.tenant_id == tenant_id,
            Subscription.state == "enabled",
            Subscription.endpoint_disabled.is_(False),
            func.coalesce(PluginProjection.banned, False).is_(False),
        )
    )
    return (await session.execute(stmt)).scalars().all()


async def upsert_subscription(session: AsyncSession, values: dict[str, Any]) -> None:
    stmt = insert(Subscription).values(**values)
    changing = {k: stmt.excluded[k] for k in values if k != "installation_id"}
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["installation_id"], set_={**changing, "updated_at": func.now()}
        )
    )


async def upsert_config(session: AsyncSession, values: dict[str, Any]) -> None:
    """Writes an installation's config unless the row holds one of a higher ``sequence`` (one
    statement: two consumers of one installation cannot interleave). An equal sequence is the
    same config (the installer changes one only with a transition), so it replaces what is
    held: a republish sealed to a new hooks key takes effect."""
    stmt = insert(InstallationConfig).values(**values)
    changing = {k: stmt.excluded[k] for k in values if k != "installation_id"}
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["installation_id"],
            set_={**changing, "updated_at": func.now()},
            where=InstallationConfig.sequence <= stmt.excluded.sequence,
        )
    )


async def configs(
    session: AsyncSession, installation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, InstallationConfig]:
    if not installation_ids:
        return {}
    stmt = select(InstallationConfig).where(
        InstallationConfig.installation_id.in_(installation_ids)
    )
    return {c.installation_id: c for c in (await session.execute(stmt)).scalars().all()}


async def set_endpoint(
    session: AsyncSession, installation_id: uuid.UUID, url: str | None, *, disabled: bool
) -> None:
    await session.execute(
        update(Subscription)
        .where(Subscription.installation_id == installation_id)
        .values(endpoint_url=url, endpoint_disabled=disabled, updated_at=func.now())
    )


async def disable_endpoint(session: AsyncSession, installation_id: uuid.UUID) -> None:
    await session.execute(
        update(Subscription)
        .where(Subscription.installation_id == installation_id)
        .values(endpoint_disabled=True, updated_at=func.now())
    )


async def upsert_plugin(
    session: AsyncSession,
    plugin_id: uuid.UUID,
    *,
    publisher_id: str | None = None,
    banned: bool | None = None,
) -> None:
    values: dict[str, Any] = {"plugin_id": plugin_id}
    if publisher_id is not None:
        values["publisher_id"] = publisher_id
    if banned is not None:
        values["banned"] = banned
    stmt = insert(PluginProjection).values(**values)
    changing = {k: stmt.excluded[k] for k in values if k != "plugin_id"}
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["plugin_id"], set_={**changing, "updated_at": func.now()}
        )
    )


async def add_schedules(
    session: AsyncSession, plugin_id: uuid.UUID, version: str, schedules: dict[str, str]
) -> None:
    """Records a published version's schedules (a version never changes, so a repeat is a
    no-op)."""
    if not schedules:
        return
    rows = [
        {"plugin_id": plugin_id, "version": version, "name": name, "cron": cron}
        for name, cron in schedules.items()
    ]
    await session.execute(insert(Schedule).values(rows).on_conflict_do_nothing())


async def plugin(session: AsyncSession, plugin_id: uuid.UUID) -> PluginProjection | None:
    return await session.get(PluginProjection, plugin_id)


async def cancel_pending(
    session: AsyncSession, installation_ids: Sequence[uuid.UUID], reason: str
) -> int:
    """Pending deliveries (retries included) of these installations end as ``cancelled``."""
    if not installation_ids:
        return 0
    result = await session.execute(
        update(Delivery)
        .where(Delivery.installation_id.in_(installation_ids), Delivery.status == "pending")
        .values(**cancelled(reason))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def add_secret(session: AsyncSession, installation_id: uuid.UUID, ciphertext: str) -> None:
    session.add(WebhookSecret(installation_id=installation_id, ciphertext=ciphertext))
    await session.flush()


async def has_secret(session: AsyncSession, installation_id: uuid.UUID) -> bool:
    stmt = select(WebhookSecret.id).where(WebhookSecret.installation_id == installation_id)
    return (await session.execute(stmt.limit(1))).first() is not None


async def expire_secrets(session: AsyncSession, installation_id: uuid.UUID, at: datetime) -> None:
    """Every secret still signing without an end gets one at ``at``."""
    await session.execute(
        update(WebhookSecret)
        .where(
            WebhookSecret.installation_id == installation_id,
            WebhookSecret.expires_at.is_(None),
        )
        .values(expires_at=at)
    )


async def signing_secrets(
    session: AsyncSession, installation_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[str]]:
    """The ciphertexts that sign now, newest first, per installation."""
    stmt = (
        select(WebhookSecret.installation_id, WebhookSecret.ciphertext)
        .where(
            WebhookSecret.installation_id.in_(installation_ids),
            (WebhookSecret.expires_at.is_(None)) | (WebhookSecret.expires_at > now),
        )
        .order_by(WebhookSecret.installation_id, WebhookSecret.id.desc())
    )
    found: dict[uuid.UUID, list[str]] = {}
    for installation_id, ciphertext in (await session.execute(stmt)).all():
        found.setdefault(installation_id, []).append(ciphertext)
    return found


async def upsert_version(session: AsyncSession, values: dict[str, Any]) -> None:
    stmt = insert(PluginVersion).values(**values)
    changing = {k: stmt.excluded[k] for k in values if k not in ("plugin_id", "version")}
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["plugin_id", "version"], set_=changing)
    )


async def version(session: AsyncSession, plugin_id: uuid.UUID, number: str) -> PluginVersion | None:
    return await session.get(PluginVersion, (plugin_id, number))


async def register_key(
    session: AsyncSession, publisher_id: str, key_id: str, public_key: str
) -> None:
    """Registers a key unless a revocation (tombstone) is already held for it."""
    stmt = insert(PublisherKey).values(
        publisher_id=publisher_id, key_id=key_id, public_key=public_key
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["publisher_id", "key_id"],
            set_={"public_key": stmt.excluded.public_key},
            where=PublisherKey.revoked_at.is_(None),
        )
    )


async def revoke_key(
    session: AsyncSession, publisher_id: str, key_id: str, revoked_at: datetime
) -> None:
    """Revokes a key; a revocation that arrives first leaves a tombstone with no key."""
    stmt = insert(PublisherKey).values(
        publisher_id=publisher_id, key_id=key_id, public_key="", revoked_at=revoked_at
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["publisher_id", "key_id"], set_={"revoked_at": revoked_at}
        )
    )


async def publisher_key(
    session: AsyncSession, publisher_id: str, key_id: str
) -> PublisherKey | None:
    return await session.get(PublisherKey, (publisher_id, key_id))


async def package_rows(
    session: AsyncSession, versions: Sequence[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], tuple[PluginVersion, PublisherKey | None]]:
    """Each version's package row with its signing key's row (None: not registered)."""
    if not versions:
        return {}
    stmt = (
        select(PluginVersion, PublisherKey)
        .outerjoin(
            PublisherKey,
            (PublisherKey.publisher_id == PluginVersion.publisher_id)
            & (PublisherKey.key_id == PluginVersion.signing_key_id),
        )
        .where(tuple_(PluginVersion.plugin_id, PluginVersion.version).in_(list(versions)))
    )
    return {(v.plugin_id, v.version): (v, k) for v, k in (await session.execute(stmt)).all()}
