"""The hooks service's consumers: see ARCHITECTURE.md for what this service consumes."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.kafka import KafkaBroker

from opscenter.contracts import ALL_TOPICS
from opscenter.hooks import models
from opscenter.hooks.settings import HooksSettings
from opscenter.servicekit.consumer import EventConsumer
from opscenter.servicekit.process import run_main
from opscenter.servicekit.runtime import ServiceRuntime, run_worker


def consumers(runtime: ServiceRuntime, broker: KafkaBroker) -> Sequence[EventConsumer]:
    return []


def run() -> None:
    runtime = ServiceRuntime.create(HooksSettings(), models)
    run_main(run_worker(runtime, consumers, ALL_TOPICS))


if __name__ == "__main__":
    run()
