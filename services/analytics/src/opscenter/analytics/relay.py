"""The analytics service's outbox relay process."""

from __future__ import annotations

from opscenter.analytics.settings import AnalyticsSettings
from opscenter.servicekit.process import run_main
from opscenter.servicekit.relay import run_relay


def run() -> None:
    run_main(run_relay(AnalyticsSettings()))


if __name__ == "__main__":
    run()
