"""The analytics's outbox relay process."""

from __future__ import annotations

import asyncio

from opscenter.analytics.settings import AnalyticsSettings
from opscenter.servicekit.relay import run_relay


def run() -> None:
    asyncio.run(run_relay(AnalyticsSettings()))


if __name__ == "__main__":
    run()
