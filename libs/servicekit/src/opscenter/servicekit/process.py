"""Process plumbing shared by every entry point."""

from __future__ import annotations

import asyncio
import signal


def install_signal_stop() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, so entry points finish their batch and exit cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
