"""The delivery pipeline's decisions around the database: claiming due work, recording what
each attempt came back with, and what tenants and developers may see and replay.

Invariants:
- A delivery is attempted only while its installation is enabled, its endpoint not disabled
  and its breaker admits the call; otherwise it is cancelled (no longer owed) or deferred
  (owed later, no attempt counted).
- An attempt's record, its delivery's new status and its event commit together (outbox). An
  attempt whose delivery was cancelled while in flight is recorded, and changes nothing else.
- The message is trimmed to the grant the installation holds when it is sent.
"""

from __future__ import annotations

import dataclasses
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    DeliveryDeadLetteredV1,
    DeliveryFailedV1,
    DeliverySucceededV1,
    EndpointBreakerClosedV1,
    EndpointBreakerOpenedV1,
    EndpointDisabledV1,
    EventPayload,
)
from opscenter.contracts.hook_events import trim_payload
from opscenter.hooks.deliveries import repository as repo
from opscenter.hooks.deliveries.policy import AttemptResult, Breaker, RetryPolicy, TokenBuckets
from opscenter.hooks.models import Delivery, DeliveryAttempt, EndpointBreaker, InstallationConfig
from opscenter.hooks.packages import PackageRef
from opscenter.hooks.secrets import SecretCipher
from opscenter.hooks.subscriptions import repository as subscriptions
from opscenter.hooks.subscriptions.service import HookTarget, hook_target, tenant_subscription
from opscenter.servicekit.errors import Problem, not_found
from opscenter.servicekit.uow import UnitOfWork


@dataclass(frozen=True)
class DispatchConfig:
    lease: timedelta
    batch_size: int
    tenant_share: int
    breaker_threshold: int
    breaker_probe: timedelta
    policy: RetryPolicy


@dataclass(frozen=True)
class Work:
    """One leased delivery, ready to attempt: by webhook (``url``, signed with ``secrets``)
    or by sandboxed handler (``handler`` from ``package``, None when the projection has no
    such version yet)."""

    delivery_id: uuid.UUID
    installation_id: uuid.UUID
    tenant_id: str
    plugin_id: uuid.UUID
    event_id: str
    event_type: str
    attempt: int
    target: Literal["webhook", "handler"]
    url: str | None
    message: dict[str, Any]
    secrets: tuple[str, ...]
    granted: tuple[str, ...]
    traceparent: str | None
    created_at: datetime
    #: The lease ends then: past it another claim may attempt the delivery again.
    leased_until: datetime | None = None
    version: str = ""
    handler: str | None = None
    package: PackageRef | None = None
    #: A handler's installation config: the non-secret values, and the secret ones as the
    #: installer sealed them to hooks (``SealedConfigSecrets`` as JSON; opened per attempt).
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    sealed_secrets: dict[str, Any] | None = None


class AttemptMode(Protocol):
    """How one mode makes an attempt (``webhook.py``, ``handler.py``); everything else of
    the pipeline (leases, retries, records, events) is shared. Never raises for what the
    plugin does."""

    async def attempt(self, work: Work, token: str) -> AttemptResult: ...

    async def close(self) -> None: ...


def _package_ref(row: tuple[Any, Any] | None) -> PackageRef | None:
    if row is None:
        return None
    version, key = row
    return PackageRef(
        digest=version.digest,
        signature=version.signature,
        signing_key_id=version.signing_key_id,
        public_key=key.public_key if key is not None and key.public_key else None,
        key_revoked=key is not None and key.revoked_at is not None,
    )


def _config_fields(row: InstallationConfig | None) -> dict[str, Any]:
    """An installation without a config row (none set yet) gets an empty config."""
    if row is None:
        return {}
    return {"config": dict(row.config), "sealed_secrets": row.secrets}


def _breaker(row: EndpointBreaker | None, url: str) -> Breaker:
    if row is None:
        return Breaker(url)
    return Breaker(url, row.state, row.consecutive_failures, row.probe_at, row.opened_at)


async def claim(
    uow: UnitOfWork,
    config: DispatchConfig,
    cipher: SecretCipher,
    buckets: TokenBuckets,
    limit: int,
) -> list[Work]:
    """Leases up to ``limit`` due deliveries and returns those to send now; the others are
    cancelled or deferred in the same transaction."""
    session = uow.session
    now = datetime.now(UTC)
    ids = await repo.claim_due(
        session,
        now=now,
        lease_until=now + config.lease,
        limit=limit,
        tenant_share=config.tenant_share,
    )
    if not ids:
        return []
    rows = await repo.deliveries_with_context(session, ids)
    targets: dict[uuid.UUID, HookTarget] = {}
    cancelled: list[uuid.UUID] = []
    for delivery, _, sub in rows:
        target = None
        if sub is not None and sub.state == "enabled":
            target = hook_target(sub, delivery.event_type)
        if target is None or (
            target.mode == "webhook" and sub is not None and sub.endpoint_disabled
        ):
            cancelled.append(delivery.id)
        else:
            targets[delivery.id] = target
    await repo.cancel(session, cancelled, "no longer subscribed")
    urls = sorted({t.url for t in targets.values() if t.url is not None})
    breakers = {
        url: _breaker(row, url) for url, row in (await repo.breakers(session, urls)).items()
    }
    handler_versions = {
        (sub.plugin_id, sub.version)
        for d, _, sub in rows
        if sub is not None and d.id in targets and targets[d.id].mode == "handler"
    }
    packages = await subscriptions.package_rows(session, sorted(handler_versions))
    configs = await subscriptions.configs(
        session,
        sorted(
            {d.installation_id for d, _, _ in rows if d.id in targets and targets[d.id].handler}
        ),
    )
    secrets = await subscriptions.signing_secrets(
        session, sorted({d.installation_id for d, _, _ in rows}), now
    )
    deferred: dict[datetime, list[uuid.UUID]] = {}
    work: list[Work] = []
    clock = time.monotonic()
    for delivery, event, sub in rows:
        target = targets.get(delivery.id)
        if target is None or sub is None:
            continue
        breaker = breakers.get(target.url) if target.url is not None else None
        wait_until = breaker.admit(now, config.lease) if breaker else None
        if wait_until is None:
            wait_s = buckets.take(delivery.installation_id, clock)
            if wait_s:
                wait_until = now + timedelta(seconds=wait_s)
        if wait_until is not None:
            deferred.setdefault(wait_until, []).append(delivery.id)
            continue
        work.append(
            Work(
                delivery_id=delivery.id,
                installation_id=delivery.installation_id,
                tenant_id=delivery.tenant_id,
                plugin_id=delivery.plugin_id,
                event_id=delivery.event_id,
                event_type=delivery.event_type,
                attempt=delivery.attempts + 1,
                target=target.mode,
                url=target.url,
                message={
                    "id": event.event_id,
                    "type": event.type,
                    "time": event.time.isoformat(),
                    "tenant_id": event.tenant_id,
                    "data": trim_payload(event.type, event.data, sub.granted_permissions),
                },
                secrets=tuple(cipher.decrypt(c) for c in secrets.get(delivery.installation_id, [])),
                granted=tuple(sub.granted_permissions),
                traceparent=event.traceparent,
                created_at=delivery.created_at,
                leased_until=now + config.lease,
                version=sub.version,
                handler=target.handler,
                package=_package_ref(packages.get((sub.plugin_id, sub.version))),
                **_config_fields(configs.get(delivery.installation_id)),
            )
        )
    for until, held in deferred.items():
        await repo.defer(session, held, until)
    for breaker in breakers.values():
        await repo.save_breaker(session, breaker)
    await uow.commit()
    return work


def _status_code(code: int | None) -> int | None:
    return code if code is not None and 100 <= code <= 599 else None


async def record(
    uow: UnitOfWork,
    results: Sequence[tuple[Work, AttemptResult]],
    config: DispatchConfig,
    rng: random.Random,
) -> None:
    """Writes a batch of attempts' outcomes, their events and the breakers they move."""
    session = uow.session
    now = datetime.now(UTC)
    rows = await repo.breakers(session, sorted({w.url for w, _ in results if w.url is not None}))
    breakers: dict[str, Breaker] = {}
    outcomes: list[repo.Outcome] = []
    attempts: list[dict[str, Any]] = []
    for work, result in results:
        code = _status_code(result.status_code)
        retry_at = config.policy.next_attempt_at(work.attempt, result, now, rng)
        if result.outcome == "succeeded":
            status = "succeeded"
        elif retry_at is not None:
            status = "pending"
        else:
            status = "dead_lettered" if result.outcome == "failed" else "failed"
        attempts.append(
            {
                "delivery_id": work.delivery_id,
                "attempt": work.attempt,
                "started_at": now - timedelta(milliseconds=result.latency_ms),
                "latency_ms": result.latency_ms,
                "outcome": result.outcome,
                "status_code": code,
                "cause": result.cause,
                "error": result.error,
            }
        )
        outcomes.append(
            repo.Outcome(work.delivery_id, work.attempt, status, retry_at, code, result.error)
        )
    await repo.add_attempts(session, attempts)
    finished = await repo.finish_attempts(session, outcomes)
    for (work, result), outcome in zip(results, outcomes, strict=True):
        if work.delivery_id not in finished:
            continue  # cancelled while in flight: its attempt is kept, the delivery is not moved
        status, code, retry_at = outcome.status, outcome.status_code, outcome.next_attempt_at
        common = _common(work, result)
        error = (result.error or "")[:2000]
        if status == "succeeded":
            await uow.emit(DeliverySucceededV1(**common, status_code=code))
        elif status == "pending":
            await uow.emit(
                DeliveryFailedV1(**common, status_code=code, error=error, next_attempt_at=retry_at)
            )
        elif status == "dead_lettered":
            await uow.emit(DeliveryDeadLetteredV1(**common, status_code=code, error=error))
        elif work.url is not None:
            await subscriptions.disable_endpoint(session, work.installation_id)
            await repo.cancel_webhooks_of(session, work.installation_id, "endpoint gone (410)")
            await uow.emit(
                EndpointDisabledV1(
                    **common, url=work.url[:2048], reason=error, consecutive_failures=1
                )
            )
        if work.url is None:
            continue  # breakers guard endpoints; a handler's failures are its own
        breaker = breakers.setdefault(work.url, _breaker(rows.get(work.url), work.url))
        change = breaker.record(result, now, config.breaker_threshold, config.breaker_probe)
        if change is not None:
            await uow.emit(_breaker_event(change, common, breaker, error, now))
    for breaker in breakers.values():
        await repo.save_breaker(session, breaker)
    await uow.commit()


def _common(work: Work, result: AttemptResult) -> dict[str, Any]:
    return {
        "delivery_id": work.delivery_id,
        "installation_id": work.installation_id,
        "tenant_id": work.tenant_id,
        "plugin_id": work.plugin_id,
        "event_id": work.event_id,
        "event_name": work.event_type,
        "target": work.target,
        "attempt": work.attempt,
        "latency_ms": round(result.latency_ms),
    }


def _breaker_event(
    change: str, common: dict[str, Any], breaker: Breaker, error: str, now: datetime
) -> EventPayload:
    url = breaker.url[:2048]
    if change == "opened":
        assert breaker.probe_at is not None
        return EndpointBreakerOpenedV1(
            **common,
            url=url,
            consecutive_failures=breaker.consecutive_failures,
            probe_at=breaker.probe_at,
            error=error or "failed",
        )
    opened = breaker.opened_at or now
    return EndpointBreakerClosedV1(
        **common, url=url, open_s=max(0.0, (now - opened).total_seconds())
    )


@dataclass(frozen=True)
class Viewer:
    """Who asks: a tenant admin sees its tenant's installation of a plugin; the plugin's
    developer sees every installation of it. Anyone else sees nothing (404)."""

    tenant_id: str | None
    tenant_admin: bool
    publisher_id: str | None


async def visible_installations(
    session: AsyncSession, plugin_id: uuid.UUID, viewer: Viewer
) -> list[uuid.UUID]:
    found: set[uuid.UUID] = set()
    if viewer.tenant_admin and viewer.tenant_id:
        subs = await subscriptions.subscriptions_of_plugin(session, plugin_id, viewer.tenant_id)
        found |= {s.installation_id for s in subs}
    if viewer.publisher_id:
        plugin = await subscriptions.plugin(session, plugin_id)
        if plugin is not None and plugin.publisher_id == viewer.publisher_id:
            subs = await subscriptions.subscriptions_of_plugin(session, plugin_id)
            found |= {s.installation_id for s in subs}
    if not found:
        raise not_found("Plugin installation")
    return sorted(found)


@dataclass(frozen=True)
class DeliveryFilter:
    status: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_deliveries(
    session: AsyncSession,
    plugin_id: uuid.UUID,
    viewer: Viewer,
    filters: DeliveryFilter,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> tuple[list[tuple[Delivery, list[DeliveryAttempt]]], bool]:
    """A page of deliveries newest first, each with its attempts; and whether more follow."""
    installations = await visible_installations(session, plugin_id, viewer)
    rows = await repo.page(
        session,
        installations,
        status=filters.status,
        event_type=filters.event_type,
        since=filters.since,
        until=filters.until,
        after=after,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    attempts = await repo.attempts_of(session, [d.id for d in rows])
    return [(d, attempts.get(d.id, [])) for d in rows], more


async def _enabled_subscription(uow: UnitOfWork, plugin_id: uuid.UUID, tenant_id: str) -> uuid.UUID:
    sub = await tenant_subscription(uow.session, plugin_id, tenant_id)
    if sub.state != "enabled":
        raise Problem(
            409,
            "installation-not-enabled",
            f"Deliveries are replayed only to an enabled installation (it is {sub.state})",
            state=sub.state,
        )
    return sub.installation_id


async def replay_one(
    uow: UnitOfWork, plugin_id: uuid.UUID, tenant_id: str, delivery_id: uuid.UUID
) -> Delivery:
    """Puts one finished delivery back in the queue (a fresh schedule; its attempts stay)."""
    installation_id = await _enabled_subscription(uow, plugin_id, tenant_id)
    delivery = await repo.delivery_for_update(uow.session, delivery_id, [installation_id])
    if delivery is None:
        raise not_found("Delivery")
    if delivery.status == "pending":
        raise Problem(409, "delivery-pending", "This delivery is still pending; it needs no replay")
    await repo.requeue(uow.session, installation_id, now=datetime.now(UTC), ids=[delivery_id])
    await uow.session.refresh(delivery)
    return delivery


async def replay_window(
    uow: UnitOfWork,
    plugin_id: uuid.UUID,
    tenant_id: str,
    since: datetime,
    until: datetime | None,
    status: str | None,
) -> int:
    installation_id = await _enabled_subscription(uow, plugin_id, tenant_id)
    return await repo.requeue(
        uow.session,
        installation_id,
        now=datetime.now(UTC),
        since=since,
        until=until,
        status=status,
    )


async def gauges(session: AsyncSession) -> tuple[dict[str, int], dict[str, int]]:
    """Pending deliveries per tenant, and endpoint breakers per state."""
    return await repo.pending_by_tenant(session), await repo.breakers_by_state(session)
