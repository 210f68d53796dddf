"""The catalog's outbox relay process."""

from __future__ import annotations

from opscenter.catalog.settings import CatalogSettings
from opscenter.servicekit.process import run_main
from opscenter.servicekit.relay import run_relay


def run() -> None:
    run_main(run_relay(CatalogSettings()))


if __name__ == "__main__":
    run()
