"""The maintenance loop the worker runs beside its consumers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from opscenter.analytics.maintenance import service
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.servicekit.runtime import ServiceRuntime

log = logging.getLogger(__name__)


async def run_maintenance(runtime: ServiceRuntime, settings: AnalyticsSettings) -> None:
    """A round every ``maintenance_interval_s`` until cancelled; a failed round (database
    down) is logged and the next one tries again."""
    while True:
        try:
            async with runtime.uow() as uow:
                await service.maintain(
                    uow, settings, datetime.now(UTC), consumer=f"{settings.service_name}.metrics"
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("maintenance round failed", extra={"error": repr(exc)})
        await asyncio.sleep(settings.maintenance_interval_s)
