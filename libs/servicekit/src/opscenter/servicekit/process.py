"""Process plumbing shared by every entry point."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Coroutine
from typing import Any

import uvloop


def install_signal_stop() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, so entry points finish their batch and exit cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_main(main: Coroutine[Any, Any, None]) -> None:
    """Runs a worker's or relay's main coroutine on uvloop, the event loop uvicorn already gives
    the APIs: its I/O callbacks cost a fraction of the standard loop's, and these processes are
    mostly I/O callbacks (Kafka fetches and produces, Postgres round trips). What the imports
    built is frozen out of the garbage collector's reach first (it is never garbage)."""
    gc.freeze()
    uvloop.run(main)
