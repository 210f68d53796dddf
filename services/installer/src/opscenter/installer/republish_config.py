"""``python -m opscenter.installer.republish_config``: sends every live installation's config
to hooks again (``config_set``, reason ``republish``), a page per transaction, through the
outbox (the relay publishes it). Safe to run at any time and more than once (ADR 0024)."""

from __future__ import annotations

import asyncio
import logging

from opscenter.installer import models
from opscenter.installer.config import ConfigCipher
from opscenter.installer.events import uow_emitter
from opscenter.installer.installations.service.republish import republish_page
from opscenter.installer.settings import InstallerSettings
from opscenter.servicekit.logs import configure_logging
from opscenter.servicekit.runtime import ServiceRuntime

log = logging.getLogger(__name__)

PAGE = 500


async def republish_all(runtime: ServiceRuntime, cipher: ConfigCipher, page: int = PAGE) -> int:
    """Every live installation's config, a page per transaction; returns how many were sent."""
    total, after = 0, None
    while True:
        async with runtime.uow() as uow:
            sent, after = await republish_page(uow.session, uow_emitter(uow), cipher, after, page)
            await uow.commit()
        total += sent
        if after is None:
            return total


async def main() -> int:
    settings = InstallerSettings()
    configure_logging(settings)
    runtime = ServiceRuntime.create(settings, models)
    cipher = ConfigCipher(settings.secret_key.get_secret_value(), settings.hooks_config_public_key)
    try:
        total = await republish_all(runtime, cipher)
    finally:
        await runtime.dispose()
    log.info("republished installation configs", extra={"count": total})
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
