"""The hooks's outbox relay process."""

from __future__ import annotations

import asyncio

from opscenter.hooks.settings import HooksSettings
from opscenter.servicekit.relay import run_relay


def run() -> None:
    asyncio.run(run_relay(HooksSettings()))


if __name__ == "__main__":
    run()
