"""The analytics service's consumers (every event that moves a metric) and its maintenance loop
(roll-ups and retention), in one process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from faststream.kafka import KafkaBroker

from opscenter.analytics import models
from opscenter.analytics.ingest.handlers import HANDLED_TYPES, on_events
from opscenter.analytics.maintenance.handlers import run_maintenance
from opscenter.analytics.settings import AnalyticsSettings
from opscenter.contracts import (
    ALL_TOPICS,
    CATALOG_PLUGIN,
    HOOKS_DELIVERY,
    INSTALLER_ENTITLEMENT,
    INSTALLER_INSTALLATION,
    REVIEWS_REVIEW,
)
from opscenter.servicekit.consumer import EventConsumer
from opscenter.servicekit.process import run_main
from opscenter.servicekit.runtime import ServiceRuntime, run_worker

METRIC_TOPICS = [
    CATALOG_PLUGIN.name,
    INSTALLER_INSTALLATION.name,
    INSTALLER_ENTITLEMENT.name,
    HOOKS_DELIVERY.name,
    REVIEWS_REVIEW.name,
]


def consumers(runtime: ServiceRuntime, broker: KafkaBroker) -> Sequence[EventConsumer]:
    prefix = getattr(runtime.settings, "topic_prefix", "")
    topics = [f"{prefix}{name}" for name in METRIC_TOPICS]
    return [
        runtime.consumer(
            broker,
            "metrics",
            topics,
            batch_handler=on_events,
            types=HANDLED_TYPES,
            typed_payloads=True,
        )
    ]


async def serve(settings: AnalyticsSettings) -> None:
    runtime = ServiceRuntime.create(settings, models)
    maintenance = asyncio.create_task(run_maintenance(runtime, settings))
    try:
        await run_worker(runtime, consumers, ALL_TOPICS)
    finally:
        maintenance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await maintenance


def run() -> None:
    run_main(serve(AnalyticsSettings()))


if __name__ == "__main__":
    run()
