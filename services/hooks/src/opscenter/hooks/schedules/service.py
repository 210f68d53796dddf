"""Which schedule ticks are due, and making each one exactly once.

Invariants (ADR 0021):
- A tick is a ``platform_events`` row (source ``TICK_SOURCE``, id
  ``<installation>/<schedule>/<scheduled_for>``) and one ``schedule.tick`` delivery keyed by
  it; both are inserted with ON CONFLICT DO NOTHING, so however many dispatchers compute the
  same tick, and however often, it exists once and is sent once (then retried like any
  delivery).
- Only the newest tick at or before now is ever made: after downtime the ticks missed are
  not replayed one by one, the latest of them is delivered (late; it names its
  ``scheduled_for``). No tick from before the installation's ``schedules_from`` is made.
- A schedule more frequent than the operator's floor is never scheduled (the catalog already
  refuses it at publication; the floor also holds for manifests published under another).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from opscenter.contracts import ScheduleTickV1
from opscenter.contracts.schedules import latest_tick, min_gap_s, next_tick
from opscenter.hooks.ingest import repository as ingest
from opscenter.hooks.models import Schedule, Subscription
from opscenter.hooks.schedules import repository as repo
from opscenter.hooks.subscriptions.service import HookTarget, delivery_lane, hook_target
from opscenter.servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)

TICK = ScheduleTickV1.event_type
TICK_SOURCE = "/opscenter/hooks/schedules"

#: ``(installation_id, schedule name)`` -> the newest tick this process has made or seen made.
Made = MutableMapping[tuple[uuid.UUID, str], datetime]


@dataclass(frozen=True)
class Tick:
    sub: Subscription
    schedule: Schedule
    scheduled_for: datetime
    target: HookTarget

    @property
    def event_id(self) -> str:
        when = self.scheduled_for.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.sub.installation_id}/{self.schedule.name}/{when}"


def _owed(sub: Subscription, schedule: Schedule, floor_s: float) -> HookTarget | None:
    """Where ``schedule``'s ticks go for ``sub`` (webhook or handler), or None when none is
    owed: no granted ``schedule.tick`` hook, or more frequent than the operator's floor."""
    target = hook_target(sub, TICK)
    if target is None:
        return None
    if min_gap_s(schedule.cron) < floor_s:
        _warn_too_frequent(sub.installation_id, schedule.name)
        return None
    return target


@lru_cache(maxsize=4096)
def _warn_too_frequent(installation_id: uuid.UUID, name: str) -> None:
    """Says once per process (not on every pass) that a schedule is not scheduled."""
    log.warning(
        "schedule more frequent than the minimum interval is not scheduled",
        extra={"installation_id": str(installation_id), "schedule": name},
    )


def due_ticks(
    rows: list[tuple[Subscription, Schedule]], now: datetime, floor_s: float, made: Made
) -> list[Tick]:
    """The newest tick of each owed schedule that this process has not made yet."""
    due: list[Tick] = []
    for sub, schedule in rows:
        target = _owed(sub, schedule, floor_s)
        if target is None:
            continue
        at = latest_tick(schedule.cron, now)
        start = sub.schedules_from or sub.updated_at
        if (
            at < start.replace(microsecond=0)
            or made.get((sub.installation_id, schedule.name)) == at
        ):
            continue  # before the installation was scheduled, or already made
        due.append(Tick(sub, schedule, at, target))
    return due


@dataclass(frozen=True)
class Pass:
    created: int
    """Ticks this pass inserted (one another dispatcher made first counts there)."""
    next_due: datetime | None
    """When the next tick of any scheduled installation falls due (None: none is)."""


async def make_due_ticks(uow: UnitOfWork, now: datetime, floor_s: float, made: Made) -> Pass:
    """Inserts every due tick not yet held."""
    rows = list(await repo.scheduled_installations(uow.session))
    current = {(sub.installation_id, schedule.name) for sub, schedule in rows}
    for gone in set(made) - current:
        del made[gone]
    next_due = min((next_tick(s.cron, now) for _, s in rows), default=None)
    ticks = due_ticks(rows, now, floor_s, made)
    if not ticks:
        return Pass(0, next_due)
    events = [
        {
            "source": TICK_SOURCE,
            "event_id": t.event_id,
            "type": TICK,
            "tenant_id": t.sub.tenant_id,
            "time": t.scheduled_for,
            "data": ScheduleTickV1(
                tenant_id=t.sub.tenant_id,
                installation_id=t.sub.installation_id,
                schedule=t.schedule.name,
                cron=t.schedule.cron,
                scheduled_for=t.scheduled_for,
            ).model_dump(mode="json"),
            "traceparent": None,
        }
        for t in ticks
    ]
    new = await ingest.add_events(uow.session, events)
    created = datetime.now(UTC)
    await ingest.add_deliveries(
        uow.session,
        [
            {
                "id": uuid.uuid4(),
                "installation_id": t.sub.installation_id,
                "tenant_id": t.sub.tenant_id,
                "plugin_id": t.sub.plugin_id,
                "event_source": TICK_SOURCE,
                "event_id": t.event_id,
                "event_type": TICK,
                "lane": delivery_lane(t.sub, t.target, f"schedule:{t.schedule.name}"),
                "target": t.target.mode,
                "status": "pending",
                "next_attempt_at": created,
            }
            for t in ticks
            if (TICK_SOURCE, t.event_id) in new
        ],
    )
    await uow.commit()
    for t in ticks:
        made[(t.sub.installation_id, t.schedule.name)] = t.scheduled_for
    return Pass(sum(1 for t in ticks if (TICK_SOURCE, t.event_id) in new), next_due)
