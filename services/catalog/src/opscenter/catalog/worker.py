"""The catalog's consumers: rating summaries and install counts for sorting listings."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.kafka import KafkaBroker

from opscenter.catalog import models
from opscenter.catalog.projections.handlers import on_installation_event, on_review_event
from opscenter.catalog.settings import CatalogSettings
from opscenter.contracts import ALL_TOPICS, INSTALLER_INSTALLATION, REVIEWS_REVIEW
from opscenter.servicekit.consumer import EventConsumer
from opscenter.servicekit.process import run_main
from opscenter.servicekit.runtime import ServiceRuntime, run_worker


def consumers(runtime: ServiceRuntime, broker: KafkaBroker) -> Sequence[EventConsumer]:
    return [
        runtime.consumer(broker, "ratings", [REVIEWS_REVIEW.name], on_review_event),
        runtime.consumer(
            broker, "install-counts", [INSTALLER_INSTALLATION.name], on_installation_event
        ),
    ]


def run() -> None:
    runtime = ServiceRuntime.create(CatalogSettings(), models)
    run_main(run_worker(runtime, consumers, ALL_TOPICS))


if __name__ == "__main__":
    run()
