"""The hooks service's outbox relay process."""

from __future__ import annotations

from opscenter.hooks.settings import HooksSettings
from opscenter.servicekit.process import run_main
from opscenter.servicekit.relay import run_relay


def run() -> None:
    run_main(run_relay(HooksSettings()))


if __name__ == "__main__":
    run()
