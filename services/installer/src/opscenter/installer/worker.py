"""The installer's consumers.

- ``installer.catalog-projection`` on ``catalog.plugin``: the projection of installable versions,
  and the reactions to bans (every installation disabled) and yanks.
- ``installer.publisher-keys`` on ``catalog.publisher``: signing keys.
- ``installer.install-executor`` on ``installer.installation``: fetches, verifies and unpacks
  packages of requested plans, upgrades and uninstalls, and moves their states on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import (
    ALL_TOPICS,
    CATALOG_PLUGIN,
    CATALOG_PUBLISHER,
    INSTALLER_INSTALLATION,
    CloudEvent,
)
from opscenter.installer import models
from opscenter.installer.catalog.handlers import on_catalog_event, on_publisher_event
from opscenter.installer.config import ConfigCipher
from opscenter.installer.events import session_emitter
from opscenter.installer.installations.handlers import WORK_TYPES, on_installation_events
from opscenter.installer.installations.service import Executor
from opscenter.installer.settings import InstallerSettings
from opscenter.servicekit.artifacts import ArtifactSource, HttpArtifactSource, InstallStore
from opscenter.servicekit.consumer import EventConsumer
from opscenter.servicekit.process import run_main
from opscenter.servicekit.runtime import ServiceRuntime, run_worker


def build_executor(settings: InstallerSettings, source: ArtifactSource | None = None) -> Executor:
    return Executor(
        source=source
        or HttpArtifactSource(
            settings.catalog_url,
            timeout_s=settings.fetch_timeout_s,
            max_bytes=settings.artifact_max_bytes,
        ),
        store=InstallStore(Path(settings.install_root), settings.unpacked_max_bytes),
        cipher=ConfigCipher(
            settings.secret_key.get_secret_value(), settings.hooks_config_public_key
        ),
        allow_unsigned=settings.allow_unsigned,
    )


def make_consumers(
    runtime: ServiceRuntime, broker: KafkaBroker, executor: Executor
) -> list[EventConsumer]:
    outbox = runtime.outbox

    async def catalog_handler(session: AsyncSession, event: CloudEvent) -> None:
        await on_catalog_event(session, event, session_emitter(outbox, session))

    async def executor_handler(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        await on_installation_events(session, events, session_emitter(outbox, session), executor)

    return [
        runtime.consumer(broker, "catalog-projection", [CATALOG_PLUGIN.name], catalog_handler),
        runtime.consumer(broker, "publisher-keys", [CATALOG_PUBLISHER.name], on_publisher_event),
        # A batch handler: the install requests of a batch are executed together. Most events
        # on the topic are the executor's own follow-ups; they are passed over unparsed.
        runtime.consumer(
            broker,
            "install-executor",
            [INSTALLER_INSTALLATION.name],
            batch_handler=executor_handler,
            types=WORK_TYPES,
        ),
    ]


def consumers(runtime: ServiceRuntime, broker: KafkaBroker) -> Sequence[EventConsumer]:
    settings = runtime.settings
    assert isinstance(settings, InstallerSettings)
    return make_consumers(runtime, broker, build_executor(settings))


def run() -> None:
    runtime = ServiceRuntime.create(InstallerSettings(), models)
    run_main(run_worker(runtime, consumers, ALL_TOPICS))


if __name__ == "__main__":
    run()
