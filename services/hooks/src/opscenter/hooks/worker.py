"""The hooks service's consumers: the subscription projection (installation transitions, plugin
publishers and bans) and the platform events it fans out to deliveries. The calls themselves
are made by the dispatcher (``dispatcher.py``), never in a poll loop."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.kafka import KafkaBroker

from opscenter.contracts import (
    ALL_TOPICS,
    CATALOG_PLUGIN,
    CATALOG_PUBLISHER,
    INSTALLER_INSTALLATION,
    OPS_PLATFORM,
)
from opscenter.hooks import models
from opscenter.hooks.ingest import service as ingest
from opscenter.hooks.ingest.handlers import on_platform_events
from opscenter.hooks.secrets import SecretCipher
from opscenter.hooks.settings import HooksSettings
from opscenter.hooks.subscriptions.handlers import (
    installation_handler,
    on_plugin_event,
    on_publisher_event,
)
from opscenter.servicekit.consumer import EventConsumer
from opscenter.servicekit.process import run_main
from opscenter.servicekit.runtime import ServiceRuntime, run_worker


def consumers(runtime: ServiceRuntime, broker: KafkaBroker) -> Sequence[EventConsumer]:
    settings = runtime.settings
    assert isinstance(settings, HooksSettings)
    cipher = SecretCipher(settings.secret_key.get_secret_value())
    return [
        runtime.consumer(
            broker,
            "subscriptions",
            [INSTALLER_INSTALLATION.name],
            installation_handler(cipher),
        ),
        runtime.consumer(broker, "plugins", [CATALOG_PLUGIN.name], on_plugin_event),
        runtime.consumer(broker, "publishers", [CATALOG_PUBLISHER.name], on_publisher_event),
        runtime.consumer(
            broker,
            "platform-events",
            [OPS_PLATFORM.name],
            batch_handler=on_platform_events,
            max_bytes=settings.max_event_bytes,
            reject=ingest.refusal,
            dedupe_key=ingest.dedupe_key,
        ),
    ]


def run() -> None:
    runtime = ServiceRuntime.create(HooksSettings(), models)
    run_main(run_worker(runtime, consumers, ALL_TOPICS))


if __name__ == "__main__":
    run()
