"""The reviews's outbox relay process."""

from __future__ import annotations

import asyncio

from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.relay import run_relay


def run() -> None:
    asyncio.run(run_relay(ReviewsSettings()))


if __name__ == "__main__":
    run()
