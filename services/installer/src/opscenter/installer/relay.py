"""The installer's outbox relay process."""

from __future__ import annotations

import asyncio

from opscenter.installer.settings import InstallerSettings
from opscenter.servicekit.relay import run_relay


def run() -> None:
    asyncio.run(run_relay(InstallerSettings()))


if __name__ == "__main__":
    run()
