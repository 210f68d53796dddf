"""The reviews service's consumers: the plugin projection (``catalog.plugin``) and who installed
what (``installer.installation``)."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.kafka import KafkaBroker

from opscenter.contracts import ALL_TOPICS, CATALOG_PLUGIN, INSTALLER_INSTALLATION
from opscenter.reviews import models
from opscenter.reviews.projections.handlers import (
    INSTALLATION_TYPES,
    PLUGIN_TYPES,
    on_installation_event,
    on_plugin_event,
)
from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.consumer import EventConsumer
from opscenter.servicekit.process import run_main
from opscenter.servicekit.runtime import ServiceRuntime, run_worker


def consumers(runtime: ServiceRuntime, broker: KafkaBroker) -> Sequence[EventConsumer]:
    return [
        runtime.consumer(
            broker, "plugins", [CATALOG_PLUGIN.name], on_plugin_event, types=PLUGIN_TYPES
        ),
        runtime.consumer(
            broker,
            "installs",
            [INSTALLER_INSTALLATION.name],
            on_installation_event,
            types=INSTALLATION_TYPES,
        ),
    ]


def run() -> None:
    runtime = ServiceRuntime.create(ReviewsSettings(), models)
    run_main(run_worker(runtime, consumers, ALL_TOPICS))


if __name__ == "__main__":
    run()
