"""The schedule ticker, run by every dispatcher process beside its claim loop.

It wakes at the next tick of any scheduled installation (at most every ``schedule_poll_s``,
so new installations and schedules are seen), makes the ticks that are due as deliveries
(``schedules.service``: exactly once across dispatchers by their key) and leaves sending to
the claim loop, so a tick is retried, recorded and reported like any other delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

from prometheus_client import Counter

from opscenter.hooks.schedules import service
from opscenter.hooks.settings import HooksSettings
from opscenter.servicekit.db import DATABASE_AWAY
from opscenter.servicekit.runtime import ServiceRuntime

log = logging.getLogger(__name__)

TICKS = Counter("hooks_schedule_ticks_total", "Schedule ticks this dispatcher created")

#: Woken this long after a tick is due, so the tick's second has begun on this clock.
_AFTER_DUE_S = 0.005


class Scheduler:
    def __init__(self, runtime: ServiceRuntime, settings: HooksSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._made: dict[tuple[uuid.UUID, str], datetime] = {}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wait_s = self.settings.schedule_poll_s
            try:
                async with self.runtime.uow() as uow:
                    done = await service.make_due_ticks(
                        uow, datetime.now(UTC), self.settings.schedule_min_interval_s, self._made
                    )
            except DATABASE_AWAY as exc:
                log.warning("schedule pass failed; retrying", extra={"error": repr(exc)})
            else:
                TICKS.inc(done.created)
                if done.next_due is not None:
                    until_due = (done.next_due - datetime.now(UTC)).total_seconds()
                    wait_s = max(0.0, min(wait_s, until_due + _AFTER_DUE_S))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)
