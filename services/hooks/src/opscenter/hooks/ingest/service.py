"""Platform events in, deliveries out.

Any Kafka client may publish to ``ops.platform``, so an event is checked before it is accepted
(``refusal``): it must be a hook event the catalog knows, of the payload version its
``dataschema`` names, valid against that payload, with a tenant that agrees with its data.
An accepted event is stored once per ``(source, id)`` and fanned out, in the consumer's
transaction, to one delivery per enabled subscription of its tenant whose hooks match it and
whose grant covers it. The Kafka offset is committed after that transaction, so a delivery
is durable before the event is passed; the dispatcher, not this consumer, makes the calls.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import OPS_PLATFORM, CloudEvent, ContractError, parse_payload
from opscenter.contracts.hook_events import hook_event, is_known_hook_event
from opscenter.hooks.ingest import repository as repo
from opscenter.hooks.models import Subscription
from opscenter.hooks.subscriptions import repository as subscriptions
from opscenter.hooks.subscriptions.service import delivery_lane, hook_target

#: The payload field that names the aggregate whose events must stay in order, by event family.
AGGREGATE_FIELDS = ("device_id", "user_id")


def refusal(event: CloudEvent) -> str | None:
    """Why ``event`` cannot be accepted (``"<reason>: <detail>"``), or None."""
    if not is_known_hook_event(event.type):
        return f"unknown-type: {event.type!r} is not a hook event (or not this version)"
    if hook_event(event.type).payload_class.topic != OPS_PLATFORM:
        # schedule.tick is made by the dispatcher; one from Kafka would be a forged tick.
        return f"unknown-type: {event.type!r} is not a platform event"
    if not event.tenantid:
        return "no-tenant: the event has no tenantid"
    try:
        payload = parse_payload(event)
    except ContractError as exc:
        return f"invalid-payload: {exc}"
    if str(getattr(payload, "tenant_id", "")) != event.tenantid:
        return "tenant-mismatch: tenantid differs from data.tenant_id"
    return None


def dedupe_key(event: CloudEvent) -> str:
    """The inbox key of a platform event: its source and id (ids are unique per source)."""
    return hashlib.sha256(f"{event.source}\x00{event.id}".encode()).hexdigest()


def aggregate_of(data: Mapping[str, Any]) -> str:
    """What an event is about, for its lane (``delivery_lane``): one device or user, or the
    tenant itself for events about no such aggregate."""
    for name in AGGREGATE_FIELDS:
        value = data.get(name)
        if value is not None:
            return f"{name}:{value}"
    return "tenant"


async def fan_out(session: AsyncSession, events: Sequence[CloudEvent]) -> int:
    """Stores ``events`` and their deliveries; returns how many deliveries were created."""
    rows = [
        {
            "source": e.source,
            "event_id": e.id,
            "type": e.type,
            "tenant_id": e.tenantid,
            "time": e.time,
            "data": e.data,
            "traceparent": e.traceparent,
        }
        for e in events
    ]
    new = await repo.add_events(session, rows)
    by_tenant: dict[str, Sequence[Subscription]] = {}
    deliveries: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for event in events:
        if (event.source, event.id) not in new:
            continue
        tenant = str(event.tenantid)
        if tenant not in by_tenant:
            by_tenant[tenant] = await subscriptions.active_subscriptions(session, tenant)
        for sub in by_tenant[tenant]:
            target = hook_target(sub, event.type)
            if target is None:
                continue
            deliveries.append(
                {
                    "id": uuid.uuid4(),
                    "installation_id": sub.installation_id,
                    "tenant_id": tenant,
                    "plugin_id": sub.plugin_id,
                    "event_source": event.source,
                    "event_id": event.id,
                    "event_type": event.type,
                    "lane": delivery_lane(sub, target, aggregate_of(event.data)),
                    "target": target.mode,
                    "status": "pending",
                    "next_attempt_at": now,
                }
            )
    await repo.add_deliveries(session, deliveries)
    return len(deliveries)
