"""The subscription projection and what a tenant admin may change of it.

Only an ``enabled`` installation of a plugin that is not banned receives deliveries. A
transition out of ``enabled`` (disable, uninstall, a failed or requested operation) and a ban
cancel every delivery still pending for it, retries included: they end ``cancelled``, not failed.
Schedules come from published manifests (``catalog.plugin``), so they are known whichever of
the two topics arrives first; ``schedules_from`` is reset when an installation becomes enabled
or changes version while enabled, so no tick from before that is owed.
An installation gets its first webhook secret when it is first enabled; the tenant admin sees a
secret only in the answer of a rotation (the old one keeps signing for ``secret_overlap_s``).
An installation's config (``config_set``) is kept apart from its subscription, with its own
sequence, so it is held whichever arrives first; it is stored as sent (secrets still sealed to
this service) and emptied when the installation is uninstalled.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    EventPayload,
    InstallationConfigSetV1,
    InstallationUninstalledV1,
    PluginBannedV1,
    PluginVersionPublishedV1,
    PublisherKeyRegisteredV1,
    PublisherKeyRevokedV1,
)
from opscenter.contracts.hook_events import can_receive, matches_hook
from opscenter.contracts.permissions import Permission, covers
from opscenter.hooks.models import Subscription
from opscenter.hooks.secrets import SecretCipher, new_webhook_secret
from opscenter.hooks.subscriptions import repository as repo
from opscenter.servicekit.errors import not_found
from opscenter.servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)

ENABLED = "enabled"


async def apply_installation_event(
    session: AsyncSession, payload: EventPayload, cipher: SecretCipher
) -> None:
    """Moves the projection to ``payload`` (any ``installer.installation`` event) unless it
    already holds a newer transition. A ``config_set`` (which repeats its transition's
    sequence) moves only the config."""
    if isinstance(payload, InstallationConfigSetV1):
        await apply_config(session, payload)
        return
    if isinstance(payload, InstallationUninstalledV1):
        # Secrets of an uninstalled plugin are not kept; the sequence stays, so a config
        # event from before the uninstall cannot bring them back.
        await repo.upsert_config(
            session,
            {
                "installation_id": payload.installation_id,
                "tenant_id": payload.tenant_id,
                "sequence": payload.sequence,
                "config": {},
                "secrets": None,
            },
        )
    event: Any = payload
    current = await repo.subscription_for_update(session, event.installation_id)
    if current is not None and current.sequence >= event.sequence:
        return
    values: dict[str, Any] = {
        "installation_id": event.installation_id,
        "tenant_id": event.tenant_id,
        "plugin_id": event.plugin_id,
        "slug": event.slug,
        "version": event.version,
        "state": event.state.value,
        "sequence": event.sequence,
    }
    fields = type(event).model_fields
    if "granted_permissions" in fields:
        values["granted_permissions"] = [p.value for p in event.granted_permissions]
    if "hooks" in fields:
        values["hooks"] = [h.model_dump(exclude_none=True) for h in event.hooks]
    if values["state"] == ENABLED and (
        current is None or current.state != ENABLED or current.version != values["version"]
    ):
        values["schedules_from"] = datetime.now(UTC)
    await repo.upsert_subscription(session, values)
    if values["state"] == ENABLED:
        if not await repo.has_secret(session, event.installation_id):
            await repo.add_secret(
                session, event.installation_id, cipher.encrypt(new_webhook_secret())
            )
    elif current is None or current.state == ENABLED:
        cancelled = await repo.cancel_pending(
            session, [event.installation_id], f"installation {values['state']}"
        )
        if cancelled:
            log.info("cancelled pending deliveries", extra={"count": cancelled})


async def apply_config(session: AsyncSession, event: InstallationConfigSetV1) -> None:
    """Keeps the installation's config unless a newer one (higher sequence) is held; the same
    sequence resent (a republish, maybe sealed to a new key) replaces it."""
    await repo.upsert_config(
        session,
        {
            "installation_id": event.installation_id,
            "tenant_id": event.tenant_id,
            "sequence": event.sequence,
            "config": event.config,
            "secrets": None if event.secrets is None else event.secrets.model_dump(mode="json"),
        },
    )


@dataclass(frozen=True)
class HookTarget:
    """Where one event goes for one subscription: a webhook ``url`` or a sandboxed
    ``handler`` (``module:function``)."""

    mode: Literal["webhook", "handler"]
    url: str | None = None
    handler: str | None = None


def hook_target(sub: Subscription, event_type: str) -> HookTarget | None:
    """The first of ``sub``'s hooks that matches ``event_type`` (names may end in ``.*``): a
    webhook goes to the endpoint set through the API, else the hook's URL. None when it is owed
    nothing (no such hook, or its grant does not cover the event)."""
    if not can_receive(event_type, sub.granted_permissions):
        return None
    for hook in sub.hooks:
        if not matches_hook(hook["name"], event_type):
            continue
        if "handler" in hook:
            return HookTarget("handler", handler=str(hook["handler"]))
        if "url" in hook:
            return HookTarget("webhook", url=sub.endpoint_url or str(hook["url"]))
    return None


def delivery_lane(sub: Subscription, target: HookTarget, aggregate: str) -> str:
    """The lane of a delivery to ``sub`` about ``aggregate`` (``device_id:d1``, ``tenant``,
    ``schedule:nightly``): deliveries in one lane are made one at a time, in order, across
    every dispatcher. A handler that writes its storage folder has one lane for the whole
    installation: the folder is one state, and two events of it handled at once (by two
    dispatchers) would each persist a copy without the other's changes."""
    if target.mode == "handler" and covers(sub.granted_permissions, Permission.STORAGE_WRITE):
        return f"{sub.installation_id}:storage"
    return f"{sub.installation_id}:{aggregate}"


async def apply_plugin_event(session: AsyncSession, event: EventPayload) -> None:
    if isinstance(event, PluginVersionPublishedV1):
        await repo.upsert_plugin(session, event.plugin_id, publisher_id=event.publisher_id)
        await repo.upsert_version(
            session,
            {
                "plugin_id": event.plugin_id,
                "version": event.version,
                "publisher_id": event.publisher_id,
                "digest": event.digest,
                "signature": event.signature,
                "signing_key_id": event.signing_key_id,
            },
        )
        schedules = {s.name: s.cron for s in event.manifest.schedules}
        await repo.add_schedules(session, event.plugin_id, event.version, schedules)
    elif isinstance(event, PluginBannedV1):
        await repo.upsert_plugin(session, event.plugin_id, banned=True)
        subs = await repo.subscriptions_of_plugin(session, event.plugin_id)
        await repo.cancel_pending(session, [s.installation_id for s in subs], "plugin banned")


async def apply_publisher_event(session: AsyncSession, event: EventPayload) -> None:
    """Signing keys, which handler packages are verified with."""
    if isinstance(event, PublisherKeyRegisteredV1):
        await repo.register_key(session, event.publisher_id, str(event.key_id), event.public_key)
    elif isinstance(event, PublisherKeyRevokedV1):
        await repo.revoke_key(session, event.publisher_id, str(event.key_id), event.revoked_at)


async def tenant_subscription(
    session: AsyncSession, plugin_id: uuid.UUID, tenant_id: str
) -> Subscription:
    """The tenant's installation of the plugin (the newest, if it was reinstalled); 404 when
    the tenant has none."""
    subs = await repo.subscriptions_of_plugin(session, plugin_id, tenant_id)
    if not subs:
        raise not_found("Installation of this plugin")
    return max(subs, key=lambda s: (s.state != "uninstalled", s.updated_at))


@dataclass(frozen=True)
class RotatedSecret:
    installation_id: uuid.UUID
    secret: str
    previous_valid_until: datetime | None


async def rotate_secret(
    uow: UnitOfWork,
    plugin_id: uuid.UUID,
    tenant_id: str,
    cipher: SecretCipher,
    overlap: timedelta,
) -> RotatedSecret:
    sub = await tenant_subscription(uow.session, plugin_id, tenant_id)
    had = await repo.has_secret(uow.session, sub.installation_id)
    until = datetime.now(UTC) + overlap
    await repo.expire_secrets(uow.session, sub.installation_id, until)
    secret = new_webhook_secret()
    await repo.add_secret(uow.session, sub.installation_id, cipher.encrypt(secret))
    return RotatedSecret(sub.installation_id, secret, until if had else None)


async def set_endpoint(
    uow: UnitOfWork, plugin_id: uuid.UUID, tenant_id: str, url: str | None
) -> Subscription:
    """Sets (or with ``None`` clears) the URL every webhook hook is sent to; setting it also
    re-enables an endpoint a 410 disabled."""
    sub = await tenant_subscription(uow.session, plugin_id, tenant_id)
    await repo.set_endpoint(uow.session, sub.installation_id, url, disabled=False)
    await uow.session.refresh(sub)
    return sub
