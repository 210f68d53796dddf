"""The catalog's outbox relay process."""

from __future__ import annotations

import asyncio

from opscenter.catalog.settings import CatalogSettings
from opscenter.servicekit.relay import run_relay


def run() -> None:
    asyncio.run(run_relay(CatalogSettings()))


if __name__ == "__main__":
    run()
